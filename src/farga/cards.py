"""Model and dataset cards in the Hugging Face format (YAML header + Markdown sections).

Cards are generated from the run's own files (metrics, registry decision, data facts), never
written by hand, so they cannot drift from what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml


@dataclass
class Card:
    """A YAML header (the Hub's structured metadata) and a Markdown body (the wording, from a template)."""

    header: dict[str, Any]
    body: str

    def render(self) -> str:
        head = yaml.safe_dump(self.header, sort_keys=False, allow_unicode=True).strip()
        return f"---\n{head}\n---\n\n{self.body.strip()}\n"

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path


def from_template(package: str, template: str, header: dict[str, Any], **context: Any) -> Card:
    """A card whose body is ``package``'s ``templates/<template>`` (Jinja2) rendered with ``context``:
    the run's figures come from Python, every word of the card from the template."""
    return Card(header, environment(package).get_template(template).render(**context))


def environment(package: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        undefined=jinja2.StrictUndefined,  # a figure the template names but the run lacks is an error, not ""
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - Markdown for people to read, not HTML
    )
    env.filters.update(pct=pct, table=table, fmt=format)
    return env


def parse(text: str) -> tuple[dict[str, Any], str]:
    """Split a card into its YAML header and body (used by tests and by anyone reading cards)."""
    if not text.startswith("---\n"):
        raise ValueError("a card starts with a YAML header between '---' lines")
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head), body


def table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
