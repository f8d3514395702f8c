"""The figures people read first, generated from the committed reports so that they cannot go stale.

``farga report`` rewrites the marked blocks of README.md and writes docs/results.md; ``--check``
(run by the tests) fails when either disagrees with ``reports/``. A component offers its headline
through the ``Reports`` capability; this module only lays it out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farga import components
from farga.cards import parse, pct, table
from farga.cpu import Cpu

BLOCK = re.compile(
    r"(<!-- farga:(?P<kind>report|example) (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /farga:(?P=kind) -->)", re.S
)


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


def compact_json(value: object) -> str:
    """A JSON answer a person can read at a glance: one line per top-level key, one per list item."""
    if not isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    lines = []
    for key, item in value.items():
        if isinstance(item, list) and item:
            inner = ",\n".join(f"  {json.dumps(x, ensure_ascii=False)}" for x in item)
            lines.append(f' "{key}": [\n{inner}\n ]')
        else:
            lines.append(f' "{key}": {json.dumps(item, ensure_ascii=False)}')
    return "{\n" + ",\n".join(lines) + "\n}"


def example_block(example: Example, answer: object) -> str:
    shown = compact_json(answer)
    return f"```bash\n{example.curl()}\n```\n\n```json\n{shown}\n```"


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


def headlines(root: Path) -> list[Headline]:
    """Every installed component's headline that has its reports in ``root``."""
    from farga.serving.settings import ServeSettings

    first = ServeSettings().first_component
    out = []
    for name in sorted(components.available(), key=lambda name: (name != first, name)):
        component = components.get(name)
        if isinstance(component, components.Reports) and (root / "reports" / name / "metrics.json").exists():
            out.append(component.headline(root / "reports" / name))
    return out


def fill_blocks(text: str, blocks: dict[str, str], kind: str = "report") -> str:
    """``text`` with each ``<!-- farga:KIND NAME -->`` block's body replaced by ``blocks[NAME]``."""

    def body(match: re.Match[str]) -> str:
        name = match["name"]
        if match["kind"] != kind or name not in blocks:
            return match[0]
        return f"{match[1]}{blocks[name].strip()}\n{match[5]}"

    return BLOCK.sub(body, text)


def results_page(found: list[Headline]) -> str:
    sections = ["# Results\n\nGenerated by `farga report` from `reports/` (the committed pipeline run); do not edit."]
    for headline in found:
        sections.append(f"## {headline.component}\n\n{headline.markdown('../')}")
    return "\n\n".join(sections) + "\n"


def generate(root: Path) -> dict[Path, str]:
    """path -> the content it should have."""
    found = headlines(root)
    readme = root / "README.md"
    blocks = {h.component: h.markdown() for h in found}
    from farga.config import load_params
    from farga.configdoc import configuration_page

    return {
        readme: fill_blocks(readme.read_text(encoding="utf-8"), blocks),
        root / "docs" / "results.md": results_page(found),
        root / "docs" / "configuration.md": configuration_page(load_params(root / "params.yaml")),
    }


def readme_examples(root: Path, base_url: str) -> Path:
    """Send each component's example to the service at ``base_url`` and put the request and the answer it
    got in the README (run against a service of the committed champions: `make docs URL=...`)."""
    import httpx

    blocks = {}
    for name in sorted(components.available()):
        component = components.get(name)
        if isinstance(component, components.Reports):
            example = component.example()
            answer = httpx.post(base_url.rstrip("/") + example.path, json=example.body, timeout=30).raise_for_status()
            blocks[name] = example_block(example, answer.json())
    readme = root / "README.md"
    readme.write_text(fill_blocks(readme.read_text(encoding="utf-8"), blocks, "example"), encoding="utf-8")
    return readme


def differing(root: Path) -> dict[Path, str]:
    """The generated files that disagree with the reports, each with the content it should have."""
    wanted = generate(root).items()
    return {path: text for path, text in wanted if not path.exists() or path.read_text(encoding="utf-8") != text}


def stale(root: Path) -> list[Path]:
    return list(differing(root))


def write(root: Path) -> list[Path]:
    changed = differing(root)
    for path, text in changed.items():
        path.write_text(text, encoding="utf-8")
    return list(changed)
