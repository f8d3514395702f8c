"""``farga dev``: maintaining this repository: generated pages, checks, benchmarks of the whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from farga.cli.common import ComponentArg, console, fail
from farga.errors import FargaError

app = typer.Typer(
    help="Maintain this repository: generated pages, lock and supply-chain checks, soak, scale.", no_args_is_help=True
)


@app.command("report")
def report(
    check: Annotated[
        bool, typer.Option(help="change nothing; fail if a generated page disagrees with reports/")
    ] = False,
    examples: Annotated[
        str | None, typer.Option(help="also send the README's example requests to this service and show its answers")
    ] = None,
) -> None:
    """Regenerate the README's result tables, docs/results.md and docs/configuration.md from reports/ and the code."""
    from farga.config import Settings
    from farga.dev import report as pages

    root = Settings().root
    if examples is not None:
        console.print(f"wrote the answers of {examples} into {pages.readme_examples(root, examples).name}")
    changed = pages.stale(root) if check else pages.write(root)
    for path in changed:
        console.print(f"{'out of date' if check else 'wrote'}: {path.relative_to(root)}")
    if check and changed:
        console.print("[bold red]run `farga dev report` (make docs) and commit what it writes[/bold red]")
        raise typer.Exit(code=1)


@app.command("reliability")
def reliability_report() -> None:
    """Write docs/reliability.md from reports/reliability/ (the fault suite's and the soak's figures)."""
    from farga.config import Settings
    from farga.dev import reliability

    console.print(f"wrote {reliability.write(Settings().root)}")


@app.command("lock-check")
def lock_check() -> None:
    """Fail when a stage's code or params changed since dvc.lock recorded its run (its results are stale)."""
    from farga.config import Settings
    from farga.dev.lockcheck import stale_stages

    try:
        stale = stale_stages(Settings().root)
    except FargaError as exc:
        raise fail("dev lock-check", "", exc) from exc
    for stage, changes in stale.items():
        console.print(f"[red]{stage}[/red]: {'; '.join(changes)}")
    if stale:
        console.print(
            "[bold red]these stages' committed results do not come from the committed code:[/bold red] rerun them "
            "(dvc repro), or, where the change cannot alter a result, `dvc commit <stage>` with a message saying why"
        )
        raise typer.Exit(code=1)
    console.print("[green]every stage's lock entry matches its code and params[/green]")


@app.command("audit")
def audit_locks(
    locks: Annotated[list[Path] | None, typer.Argument(help="lock files (default: requirements/*.txt)")] = None,
    strict: Annotated[bool, typer.Option(help="also fail when a package could not be audited")] = False,
) -> None:
    """pip-audit over the lock files: vulnerabilities found, and how many packages could really be checked."""
    from rich.table import Table

    from farga.dev.audit import audit

    paths = locks or sorted(Path("requirements").glob("*.txt"))
    if not paths:
        console.print("[red]no lock files: pass them, or run from the project root (requirements/*.txt)[/red]")
        raise typer.Exit(code=1)
    results = [audit(path) for path in paths]
    table = Table(title="supply-chain audit (pip-audit)")
    for column in ("lock", "packages", "audited", "could not be audited", "vulnerabilities"):
        table.add_column(column)
    for r in results:
        table.add_row(r.lock, str(r.packages), str(r.audited), str(len(r.skipped)), str(len(r.vulnerabilities)))
    Console().print(table)
    found = [v for r in results for v in r.vulnerabilities]
    for v in found:
        fix = ", ".join(v["fix_versions"]) or "no fix released"
        console.print(f"[red]{v['package']} {v['version']}: {v['id']} (fix: {fix})[/red]")
    unaudited = sum(len(r.skipped) for r in results)
    if unaudited:
        example = next(s for r in results for s in r.skipped)
        console.print(
            f"[yellow]{unaudited} packages could not be audited: the vulnerability service did not answer "
            f"for them (e.g. {example}). No finding for those is not a clean bill.[/yellow]"
        )
    if found or (strict and unaudited):
        raise typer.Exit(code=1)


@app.command("dashboards")
def dashboards(
    out: Annotated[Path, typer.Option(help="folder for the Grafana dashboard JSON")] = Path(
        "deploy/grafana/dashboards"
    ),
) -> None:
    """Write the Grafana dashboards (generated from code, provisioned by the compose stack)."""
    from farga.dev import dashboards as boards

    for path in boards.write(out):
        typer.echo(str(path))


@app.command()
def soak(
    minutes: Annotated[int, typer.Option(min=1, help="how long to hold the load")] = 10,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn workers")] = 2,
    clients: Annotated[int, typer.Option(min=1, help="concurrent clients")] = 4,
    load: Annotated[float, typer.Option(min=0.05, max=1.0, help="share of the measured capacity")] = 0.7,
    models: Annotated[str, typer.Option(help="what the champions are, for the report")] = "",
    out: Annotated[Path | None, typer.Option(help="write the figures here (JSON)")] = None,
) -> None:
    """Soak benchmark: both components at a share of measured capacity for minutes; RSS per worker,
    p50/p99 per minute, errors."""
    from farga.config import Settings
    from farga.dev import soak as soak_run

    try:
        report = soak_run.run(
            Settings().root, minutes=minutes, workers=workers, clients=clients, load=load, progress=console.print
        )
    except (TimeoutError, RuntimeError) as exc:
        console.print(
            "[bold red]farga dev soak failed:[/bold red] the service did not become ready; it serves the registry's "
            f"champions under FARGA_ROOT (`make run` makes them): {str(exc)[:500]}"
        )
        raise typer.Exit(code=1) from exc
    for check, measured, met in report.checks():
        console.print(f"{'[green]met[/green]' if met else '[red]NOT met[/red]'}  {check}: {measured}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = report.to_json() | ({"models": models} if models else {})
        out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


@app.command("bench-scale")
def bench_scale(
    component: ComponentArg,
    seconds: Annotated[int, typer.Option(help="wrk duration per replica count")] = 15,
    epochs: Annotated[int, typer.Option(min=2, help="training epochs per process count (the first is not timed)")] = 3,
    out: Annotated[Path | None, typer.Option(help="also write the figures into this file's generated section")] = None,
) -> None:
    """Training throughput with 1 process and with one per core (DDP), serving throughput with 1 and 2
    replicas behind nginx: generated data, so anyone can rerun it (docs/scale.md)."""
    from farga.config import Settings
    from farga.dev import scale_bench

    settings = Settings()
    try:
        train, serve = scale_bench.run(component, settings.root / settings.params_file, seconds, epochs)
        command = f"farga dev bench-scale {component} --seconds {seconds} --epochs {epochs}"
        text = scale_bench.markdown(scale_bench.scaler(component).scale_run, train, serve, command)
        if out is not None:
            scale_bench.write_into(out, text)
    except FargaError as exc:
        raise fail("dev bench-scale", component, exc) from exc
    typer.echo(text)
