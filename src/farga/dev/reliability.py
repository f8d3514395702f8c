"""docs/reliability.md, made from the committed figures: the fault suite's (reports/reliability/
faults.json, written by ``make reliability``) and one soak run's (reports/reliability/soak.json,
``farga dev soak``). Nothing in the page is typed by hand; a test checks it matches the reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FAULTS, SOAK = Path("reports/reliability/faults.json"), Path("reports/reliability/soak.json")
ABUSE = Path("reports/reliability/abuse.json")  # tests/e2e/test_abuse.py, with FARGA_ABUSE_REPORT
PAGE = Path("docs/reliability.md")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(faults: list[dict[str, Any]], soak: dict[str, Any], abuse: list[dict[str, Any]]) -> str:
    lines = [
        "# Reliability: hostile input, faults and load",
        "",
        "What the service was put through and what it answered, from real `farga serve` processes on",
        "127.0.0.1 (`tests/faults/`, run in CI; `make reliability` reruns it and regenerates this page",
        "from `reports/reliability/`). Behaviour, limits and settings are in [the API guide](api.md).",
        "",
        "## Faults and hostile input",
        "",
        "| fault or hostile case | what the service answered | what was lost |",
        "|---|---|---|",
        *[f"| {cell(r['case'])} | {cell(r['answered'])} | {cell(r['lost'])} |" for r in faults],
        "",
        "## Learning-loop abuse",
        "",
        "One actor against the loop that learns from users (`tests/e2e/test_abuse.py`: `farga serve`, nginx",
        "in front where a proxy matters, `farga ops retrain` and `farga ops review` as an operator runs them;",
        "[how admission works](monitoring.md)).",
        "",
        "| attack | what the service and the loop did | what it taught the model |",
        "|---|---|---|",
        *[f"| {cell(r['case'])} | {cell(r['answered'])} | {cell(r['lost'])} |" for r in abuse],
        "",
        "## Soak",
        "",
        f"`farga dev soak --minutes {len(soak['minutes'])} --workers {soak['workers']} --clients {soak['clients']}`: "
        f"capacity measured first ({soak['capacity_rps']:.0f} requests/s, both components, 30% of predictions "
        f"followed by a feedback), then paced at {soak['target_rps']:.0f} requests/s "
        f"({soak['target_rps'] / soak['capacity_rps']:.0%} of it). "
        f"Models: {soak.get('models', 'the project root champions')}.",
        "",
        "| minute | requests/s | p50 | p99 | errors |",
        "|---|---|---|---|---|",
        *[
            f"| {m['minute']} | {m['rps']:.0f} | {m['p50_ms']:.1f} ms | {m['p99_ms']:.1f} ms | {m['errors']} |"
            for m in soak["minutes"]
        ],
        "",
        "Resident memory per worker (MiB), first and last sample, and the growth over the run:",
        "",
        "| worker | first | last | growth |",
        "|---|---|---|---|",
        *[
            f"| {w} | {s[0][1]:.0f} | {s[-1][1]:.0f} | {soak['rss_growth_mb'][w]:+.1f} |"
            for w, s in soak["rss_mb"].items()
        ],
        "",
        "| check | measured | met |",
        "|---|---|---|",
        *[f"| {c['check']} | {c['measured']} | {'yes' if c['met'] else '**no**'} |" for c in soak["checks"]],
        "",
    ]
    return "\n".join(lines)


def write(root: Path) -> Path:
    faults = json.loads((root / FAULTS).read_text(encoding="utf-8"))
    soak = json.loads((root / SOAK).read_text(encoding="utf-8"))
    abuse = json.loads((root / ABUSE).read_text(encoding="utf-8"))
    (root / PAGE).write_text(render(faults, soak, abuse), encoding="utf-8")
    return root / PAGE
