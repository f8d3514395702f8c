"""Data contracts: run every check, collect every failure, stop the pipeline with one readable report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from rich.console import Console
from rich.table import Table

from farga.errors import FargaError


@dataclass
class Finding:
    check: str
    detail: str


@dataclass
class ContractReport:
    name: str
    checks_run: int = 0
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "contract": self.name,
            "ok": self.ok,
            "checks_run": self.checks_run,
            "findings": [f.__dict__ for f in self.findings],
            "facts": self.facts,
        }

    def render(self, console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        if self.ok:
            console.print(f"[green]data contract {self.name}: {self.checks_run} checks passed[/green]")
            return
        table = Table(title=f"data contract {self.name}: {len(self.findings)} violation(s)")
        table.add_column("check", style="bold red")
        table.add_column("what is wrong")
        for f in self.findings:
            table.add_row(f.check, f.detail)
        console.print(table)


class ContractViolation(FargaError, RuntimeError):
    def __init__(self, report: ContractReport):
        self.report = report
        lines = [f"- {f.check}: {f.detail}" for f in report.findings]
        super().__init__(f"data contract {report.name} violated:\n" + "\n".join(lines))


def check_frame(report: ContractReport, schema: pa.DataFrameSchema, frame: pd.DataFrame) -> None:
    """Run a pandera schema lazily and turn its failure cases into findings (a few examples each)."""
    report.checks_run += 1
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            examples = ", ".join(map(str, group["failure_case"].head(3).tolist()))
            report.findings.append(Finding(f"{column}: {check}", f"{len(group)} failing value(s), e.g. {examples}"))


def check(report: ContractReport, name: str, predicate: Callable[[], str | None]) -> None:
    """A custom check: the predicate returns None when it holds, or what is wrong."""
    report.checks_run += 1
    try:
        problem = predicate()
    except (KeyError, AttributeError, ValueError, TypeError) as exc:
        problem = f"could not be checked: {type(exc).__name__}: {exc}"
    if problem:
        report.findings.append(Finding(name, problem))
