"""Model and dataset cards in the Hugging Face format (YAML header + Markdown sections).

Cards are generated from the run's own files (metrics, registry decision, data facts), never
written by hand, so they cannot drift from what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Card:
    header: dict[str, Any]
    title: str
    sections: list[tuple[str, str]] = field(default_factory=list)

    def render(self) -> str:
        head = yaml.safe_dump(self.header, sort_keys=False, allow_unicode=True).strip()
        body = "\n\n".join(f"## {name}\n\n{text.strip()}" for name, text in self.sections)
        return f"---\n{head}\n---\n\n# {self.title}\n\n{body}\n"

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path


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
