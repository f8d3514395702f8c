"""Behavioural model tests in the CheckList style (Ribeiro et al., 2020), shared by every component.

A component turns its model into a list of ``Case`` results, each belonging to one of three test
families: minimum functionality (simple inputs the model must get right), invariance (a change that
must not change the answer) and directional (a change that must move the answer a known way). This
module scores them: a pass rate per family, per test and per slice, each family held to the
threshold set in ``params.yaml``; the report says which failed and shows examples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from farga.params import Thresholds

FAMILIES = ("minimum_functionality", "invariance", "directional")


@dataclass(frozen=True)
class Case:
    family: str  # one of FAMILIES
    test: str  # e.g. "invariance: rotate 10 degrees"
    slice: str  # what to break results down by (a family of classes, say)
    subject: str  # what was tested (the true class, say)
    passed: bool
    detail: str  # what the model answered


def summarise(cases: list[Case], thresholds: Thresholds, examples: int = 3) -> dict[str, Any]:
    """Pass rates per family, test and slice; ``passed`` is false if any family is under its threshold."""
    unknown = {c.family for c in cases} - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown test families {sorted(unknown)}; expected {FAMILIES}")

    by_family, by_test = _rates(cases, "family"), _rates(cases, "test")
    families = {}
    for family in FAMILIES:
        threshold = float(getattr(thresholds, family))
        found = by_family.get(family)
        rate = found["pass_rate"] if found else None
        families[family] = {
            "n": found["n"] if found else 0,
            "pass_rate": rate,
            "threshold": threshold,
            # a family with no case cannot vouch for the model
            "passed": rate is not None and rate >= threshold,
        }
    return {
        "passed": all(f["passed"] for f in families.values()),
        "families": families,
        "tests": by_test,
        "slices": {family: _rates([c for c in cases if c.family == family], "slice") for family in FAMILIES},
        "failures": {
            test: [asdict(c) for c in cases if c.test == test and not c.passed][:examples] for test in by_test
        },
    }


def _rates(cases: list[Case], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        groups[getattr(case, key)].append(case)
    return {
        name: {"n": len(group), "pass_rate": sum(c.passed for c in group) / len(group)}
        for name, group in sorted(groups.items())
    }


def print_report(summary: dict[str, Any], title: str, console: Console | None = None) -> None:
    console = console or Console()
    families = Table(title=f"{title}: behavioural tests by family")
    for column in ("family", "cases", "pass rate", "threshold", "result"):
        families.add_column(column)
    for name, f in summary["families"].items():
        rate = "-" if f["pass_rate"] is None else f"{f['pass_rate']:.1%}"
        verdict = "[green]pass[/green]" if f["passed"] else "[bold red]FAIL[/bold red]"
        families.add_row(name, str(f["n"]), rate, f"{f['threshold']:.0%}", verdict)
    console.print(families)
    tests = Table(title="by test")
    for column in ("test", "cases", "pass rate", "a failure"):
        tests.add_column(column)
    for name, t in summary["tests"].items():
        failures = summary["failures"].get(name) or []
        example = f"{failures[0]['subject']} -> {failures[0]['detail']}" if failures else ""
        tests.add_row(name, str(t["n"]), f"{t['pass_rate']:.1%}", example)
    console.print(tests)
    slices = Table(title="by slice (pass rate, cases)")
    slices.add_column("slice")
    for family in FAMILIES:
        slices.add_column(family)
    names = sorted({s for family in summary["slices"].values() for s in family})
    for name in names:
        cells = []
        for family in FAMILIES:
            s = summary["slices"][family].get(name)
            cells.append(f"{s['pass_rate']:.0%} ({s['n']})" if s else "")
        slices.add_row(name, *cells)
    console.print(slices)
