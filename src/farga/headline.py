"""What a component's front-page figures are made of: the headline table, the README's example call,
and the notes every headline shares (the data a model was trained on, what its int8 file costs).
A component builds them (``components.Reports``); ``farga dev report`` (farga.dev.report) lays them out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farga.cards import parse, pct, table
from farga.cpu import Cpu


@dataclass(frozen=True)
class Headline:
    """One small table: what was measured, on what, against which anchor."""

    component: str
    caption: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    notes: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # label -> path from the repository root

    def markdown(self, link_prefix: str = "") -> str:
        parts = [f"**{self.component}**: {self.caption}", table(self.rows, self.header)]
        parts += self.notes
        if self.links:
            parts.append(" · ".join(f"[{label}]({link_prefix}{path})" for label, path in self.links.items()))
        return "\n\n".join(parts)


@dataclass(frozen=True)
class Example:
    """A request the README shows with the answer a running service gave to it."""

    path: str
    body: dict[str, object]

    def curl(self) -> str:
        body = json.dumps(self.body, ensure_ascii=False)
        return f"curl -s localhost:8000{self.path} -H 'Content-Type: application/json' \\\n  -d '{body}'"


def trained_on(reports: Path) -> str:
    """The data set the model card names (its header's ``datasets``): real, or a synthetic stand-in."""
    header, _ = parse((reports / "model_card.md").read_text(encoding="utf-8"))
    return str(header["datasets"][0])


def synthetic_warning(reports: Path) -> list[str]:
    """A note for figures measured on generated data, which say nothing about real use."""
    name = trained_on(reports)
    if not name.startswith("synthetic"):
        return []
    return [f"**Trained and scored on {name}, generated stand-in data (`make demo`): not a measure of real use.**"]


def served_int8(metrics: dict[str, Any], metric: str) -> list[str]:
    """A note on what the served int8 file costs against its float graph, and the CPU it was measured on
    (int8 kernels differ between CPUs); none for a model evaluated before it was recorded."""
    if "machine" not in metrics:
        return []
    machine = Cpu.from_json(metrics["machine"]).summary()
    if f"{metric}_float" not in metrics:
        return [f"Scored on {machine}."]
    served, twin = metrics[metric], metrics[f"{metric}_float"]
    return [
        f"Scored on {machine}: the served int8 file {pct(served)} top-1, the float graph it was quantised "
        f"from {pct(twin)} (the registry refuses a file that loses more than `register.int8.max_loss`)."
    ]
