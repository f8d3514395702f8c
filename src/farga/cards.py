"""Model and dataset cards in the Hugging Face format (YAML header + Markdown sections).

Cards are generated from the run's own files (metrics, registry decision, data facts), never
written by hand, so they cannot drift from what was measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from farga.config import StageContext
from farga.cpu import Cpu
from farga.hashing import read_json
from farga.params import Gate, Strict


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


def model_header(
    component: str,
    version: str,
    *,
    task: tuple[str, str],
    dataset: str,
    split: str,
    scores: list[tuple[str, str, float]],
    tags: list[str],
    language: list[str] | None = None,
) -> dict[str, Any]:
    """A model card's header in the Hub's format: ``task`` is (pipeline tag, what it does), ``scores``
    (metric type, name, value) on ``dataset``'s ``split``."""
    return {
        "license": "apache-2.0",
        **({"language": language} if language else {}),
        "library_name": "onnx",
        "pipeline_tag": task[0],
        "tags": tags,
        "datasets": [dataset],
        "metrics": list(dict.fromkeys(kind for kind, _, _ in scores)),
        "model-index": [
            {
                "name": f"farga-{component}-v{version}",
                "results": [
                    {
                        "task": {"type": task[0], "name": task[1]},
                        "dataset": {"type": dataset, "name": dataset, "split": split},
                        "metrics": [{"type": kind, "name": name, "value": value} for kind, name, value in scores],
                    }
                ],
            }
        ],
    }


def run_context(ctx: StageContext[Any], facts: dict[str, Any], params: Mapping[str, Strict]) -> dict[str, Any]:
    """What every card may name: the metrics and the run, the registry's decision, the data's fetch,
    prepare and contract facts, and the params blocks the run was made with, as params.yaml wrote them."""
    return {
        "facts": facts,
        "run": facts["run"],
        "registry": facts["registry"],
        "fetched": read_json(ctx.paths.raw / "fetch.json"),
        "prepared": read_json(ctx.paths.prepared / "prepare.json"),
        "contract": read_json(ctx.paths.reports / "validation.json"),
        **{name: block.as_written() for name, block in params.items()},
        "served": served_file(facts, ctx.config.gate),
    }


def served_file(facts: dict[str, Any], gate: Gate) -> str:
    """Which file serves, what int8 cost against its float twin, and the CPU that measured it (int8
    kernels differ between CPUs, so the figure holds for that CPU)."""
    if "machine" not in facts:
        return "The evaluation of this model did not record its machine (made before it did)."
    machine = Cpu.from_json(facts["machine"]).summary()
    bound = gate.int8
    if bound is None or bound.float_metric not in facts:
        return f"The served file is float. Evaluated on {machine}."
    int8, twin = facts[bound.metric], facts[bound.float_metric]
    return (
        f"The served file is int8 (7-bit weights, uint8 activations: the same sums on CPUs with "
        f"and without int8 dot products), evaluated on {machine}: {bound.metric} {pct(int8)} against {pct(twin)} "
        f"for the float graph it was quantised from ({100 * (int8 - twin):+.2f} points; the registry gate refuses "
        f"a loss over {100 * bound.max_loss:.1f}). The float graph ships beside it (`FARGA_PRECISION=float`)."
    )


def model_and_dataset(
    package: str, model_header: dict[str, Any], dataset_header: dict[str, Any], context: dict[str, Any]
) -> dict[str, Card]:
    """The two cards of a run, from ``package``'s templates ``model_card.md.j2`` and ``dataset_card.md.j2``."""
    return {
        "model_card": from_template(package, "model_card.md.j2", model_header, **context),
        "dataset_card": from_template(package, "dataset_card.md.j2", dataset_header, **context),
    }


def environment(package: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        undefined=jinja2.StrictUndefined,  # a figure the template names but the run lacks is an error, not ""
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,  # an included snippet's final newline is not part of its text
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
