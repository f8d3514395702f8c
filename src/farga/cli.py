"""The ``farga`` command: every lifecycle step of every component, one verb each."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from farga import components
from farga.config import StageContext, quiet_environment
from farga.errors import FargaError

quiet_environment()

app = typer.Typer(help="Farga: prototype models forged into production ML components.", no_args_is_help=True)
data_app = typer.Typer(help="Obtain, prepare and validate a component's data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(stderr=True)

ComponentArg = Annotated[str, typer.Argument(help="component name (`farga components` lists them)")]


def _fail(verb: str, component: str, exc: Exception) -> typer.Exit:
    """A failure the user can act on: the message, and exit status 1 (raise what this returns)."""
    console.print(f"[bold red]farga {verb} {component} failed:[/bold red] {exc}")
    return typer.Exit(code=1)


def _run(stage: str, component: str, archive: Path | None = None) -> None:
    from farga.pipeline import run_stage

    try:
        ctx = StageContext.load(component)
        result = run_stage(stage, ctx, archive)
    except (FargaError, FileNotFoundError) as exc:
        raise _fail(stage, component, exc) from exc
    console.print(f"[green]{stage} {component}: done[/green]")
    typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))


@data_app.command("fetch")
def fetch(
    component: ComponentArg,
    archive: Annotated[
        Path | None,
        typer.Option(
            help="local copy of the data (which file or folder: `farga data check <component>` says), "
            "else the component's environment variable, else a download where it has one"
        ),
    ] = None,
) -> None:
    """Obtain the raw data (download, or a local archive) and verify it."""
    _run("fetch", component, archive=archive)


@data_app.command("check")
def check(component: ComponentArg) -> None:
    """Make sure the raw data can be obtained (finds or downloads it) before a long pipeline run."""
    _run("check", component)


@data_app.command("validate-feedback")
def validate_feedback(
    component: ComponentArg,
    archive: Annotated[Path, typer.Option(help="exported feedback (farga feedback export ... --out)")],
) -> None:
    """Check exported feedback before it may join the training data: labels, images, no test images."""
    _run("validate_feedback", component, archive=archive)


@data_app.command("prepare")
def prepare(component: ComponentArg) -> None:
    """Split the data and cache arrays plus a per-sample manifest."""
    _run("prepare", component)


@data_app.command("validate")
def validate(component: ComponentArg) -> None:
    """Check the prepared data against its contract; stop with a report on any violation."""
    _run("validate", component)


@app.command()
def train(component: ComponentArg) -> None:
    """Train the model, log it to MLflow and export it to ONNX.

    With FARGA_TRAIN_PROCESSES (or FARGA_TRAIN_NODES) above 1, under torchrun with DistributedDataParallel
    (docs/scale.md)."""
    from farga import distributed
    from farga.config import Settings

    try:
        status = distributed.launch(Settings(), ["train", component])
    except FargaError as exc:
        raise _fail("train", component, exc) from exc
    if status is not None:
        raise typer.Exit(code=status)
    _run("train", component)


@app.command()
def tune(
    component: ComponentArg,
    study: Annotated[str | None, typer.Option(help="the study's name; default: <component>-<profile>")] = None,
    then: Annotated[
        str,
        typer.Option(help="with the best trial's values: run (dvc exp run -S ...), queue (dvc exp run --queue), none"),
    ] = "none",
    baseline: Annotated[
        bool, typer.Option(help="make a new study's first trial params.yaml's own values (start one worker so)")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="also write the study's report here (reports/scale/tune-*.json)")
    ] = None,
) -> None:
    """Search the hyperparameters of the component's `tune` section with Optuna (FARGA_TUNE_STORAGE: one
    PostgreSQL URL lets workers on several machines share the study); every trial a nested MLflow run."""
    import sys
    import time

    from farga.hashing import write_json
    from farga.tuning import report
    from farga.tuning import tune as search

    if then not in ("none", "queue", "run"):
        raise _fail("tune", component, FargaError(f"--then must be run, queue or none, not {then!r}"))
    started = time.monotonic()
    try:
        ctx = StageContext.load(component)
        outcome = search(ctx, study, then, baseline)  # type: ignore[arg-type]
    except FargaError as exc:
        raise _fail("tune", component, exc) from exc
    if out is not None:
        command = "farga " + " ".join(sys.argv[1:])
        write_json(out, report(outcome, ctx, command, time.monotonic() - started))
    typer.echo(json.dumps(outcome.facts(), indent=2, sort_keys=True))


@app.command()
def evaluate(component: ComponentArg) -> None:
    """Score the exported model on the test split; write metrics and plots."""
    _run("evaluate", component)


@app.command()
def register(component: ComponentArg) -> None:
    """Register the model as candidate; promote it to champion only if it beats the champion."""
    _run("register", component)


@app.command()
def pipeline(component: ComponentArg) -> None:
    """Run every stage in order, in this process (``dvc repro`` is the tracked way)."""
    from farga.pipeline import STAGES

    for stage in STAGES:
        _run(stage, component)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    components_: Annotated[str, typer.Option("--components", help="comma-separated components to serve")] = "",
) -> None:
    """Serve the registry's champion models over HTTP (FastAPI + ONNX Runtime), with the web page at /."""
    import tempfile

    import uvicorn

    from farga.serving import shutdown
    from farga.serving.protocol import CoalescingHttpToolsProtocol
    from farga.serving.settings import ServeSettings
    from farga.serving.store import migrate

    if components_:
        os.environ["FARGA_COMPONENTS"] = components_
    # migrate once here, not in every worker at the same time (two workers would race to create tables)
    migrate(ServeSettings().resolved_database_url())
    os.environ["FARGA_MIGRATE_ON_START"] = "false"
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # every worker writes its metric samples here; /metrics aggregates them
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="farga-metrics-")
    settings = ServeSettings()
    config = uvicorn.Config(
        "farga.serving.app:create_app",
        factory=True,
        http=CoalescingHttpToolsProtocol,  # a response leaves in one write: see farga.serving.protocol
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        proxy_headers=False,  # X-Forwarded-For is read by farga.serving.identity, from the right
    )
    shutdown.run(config, drain_s=settings.drain_s)


@app.command("bench-scale")
def bench_scale(
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
        train, serve = scale_bench.run(settings.root / settings.params_file, seconds, epochs)
        text = scale_bench.markdown(train, serve, f"farga bench-scale --seconds {seconds} --epochs {epochs}")
        if out is not None:
            scale_bench.write_into(out, text)
    except FargaError as exc:
        raise _fail("bench-scale", "", exc) from exc
    typer.echo(text)


@app.command()
def bench(
    component: ComponentArg,
    seconds: Annotated[int, typer.Option(help="wrk duration per level")] = 10,
    workers: Annotated[int, typer.Option(help="uvicorn workers per service")] = 2,
    out: Annotated[Path | None, typer.Option(help="also write the report here (markdown)")] = None,
) -> None:
    """Benchmark serving: latency and throughput of the exported model, in process and over HTTP."""
    from farga.config import Settings

    try:
        comp = components.get(component)
        if not isinstance(comp, components.Benches):
            raise components.lacking(component, "benchmark")
        text = comp.bench(Settings().root, seconds, workers)
    except (FargaError, FileNotFoundError, RuntimeError) as exc:
        raise _fail("bench", component, exc) from exc
    typer.echo(text)
    if out is not None:
        out.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


@app.command("test-model")
def model_tests(
    component: ComponentArg,
    model: Annotated[
        Path | None, typer.Option(help="an exported model (directory or .onnx); default: the registry's champion")
    ] = None,
) -> None:
    """Behavioural tests (CheckList): minimum functionality, invariance, directional; fails under a threshold."""
    import tempfile

    from farga import behaviour, tracking
    from farga.hashing import write_json

    try:
        ctx = StageContext.load(component)
        comp = components.get(component)
        if not isinstance(comp, components.Behaves):
            raise components.lacking(component, "behavioural tests")
        with tempfile.TemporaryDirectory() as tmp:
            if model is None:
                version, path = tracking.download_champion(ctx.settings, component, Path(tmp))
                label = f"{component} champion v{version}"
            else:
                path, label = model, str(model)
            if not path.exists():
                raise FargaError(f"no model at {path}")
            cases = comp.behaviour(ctx, path)
        summary = behaviour.summarise(cases, ctx.params["behaviour"]["thresholds"])
    except (FargaError, FileNotFoundError, KeyError) as exc:
        raise _fail("test-model", component, exc) from exc
    behaviour.print_report(summary, label, Console())
    write_json(ctx.paths.reports / "behaviour.json", {"model": label, **summary})
    if not summary["passed"]:
        failed = [name for name, f in summary["families"].items() if not f["passed"]]
        console.print(f"[bold red]{label} fails the behavioural tests: {', '.join(failed)}[/bold red]")
        raise typer.Exit(code=1)
    console.print(f"[green]{label} passes every behavioural test family[/green]")


from farga.cli_feedback import feedback_app, review  # noqa: E402  (the feedback verbs, in their own module)

app.add_typer(feedback_app, name="feedback")
app.command("review")(review)


@app.command()
def monitor(
    component: ComponentArg,
    watch: Annotated[bool, typer.Option(help="keep computing, and export Prometheus gauges")] = False,
    interval: Annotated[float, typer.Option(min=1, help="seconds between rounds when watching")] = 60.0,
    host: Annotated[str, typer.Option(help="address of the metrics endpoint when watching")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the metrics endpoint when watching")] = 9108,
    out: Annotated[Path | None, typer.Option(help="report folder (default reports/<component>/monitor)")] = None,
    fail_on_drift: Annotated[bool, typer.Option(help="exit 3 when drift is detected (for a scheduled job)")] = False,
    window: Annotated[
        int | None, typer.Option(min=1, help="latest predictions judged (default: params monitor.window)")
    ] = None,
) -> None:
    """Drift of the latest logged predictions against the champion's training data: input, embedding,
    prediction and confidence. Writes drift.json and a self-contained drift.html."""
    from farga.monitoring.monitor import Monitor, summary_line
    from farga.serving.settings import ServeSettings

    try:
        ctx = StageContext.load(component)
        settings = ServeSettings()
        params = ctx.params["monitor"] | ({"window": window} if window else {})
        runner = Monitor(component, settings, params, out or ctx.paths.reports / "monitor")
        if watch:
            import logging

            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            runner.watch(interval, host, port)
            return
        report = runner.run_once()
    except (FargaError, FileNotFoundError, KeyError) as exc:
        raise _fail("monitor", component, exc) from exc
    _log_drift(report, runner.out, settings)
    colour = "red" if report["drifted"] else "green"
    console.print(f"[{colour}]{component} v{report['model_version']}: {summary_line(report)}[/{colour}]")
    if report["judged"]:
        console.print(f"report: {runner.out / 'drift.html'}")
    if fail_on_drift and report["drifted"]:
        raise typer.Exit(code=3)


def _log_drift(report: dict[str, Any], out: Path, settings: Any) -> None:
    """A judged drift report goes to MLflow (experiment <component>-monitoring): scores, plot, page."""
    if not report["judged"]:
        return
    from farga import tracking

    with tracking.run(settings, f"{report['component']}-monitoring", run_name=f"drift-v{report['model_version']}"):
        import mlflow

        mlflow.set_tags({"model_version": report["model_version"], "drifted": report["drifted"]})
        mlflow.log_metrics({f"drift_{k}": v["score"] for k, v in report["kinds"].items()})
        mlflow.log_metric("window", report["window"])
        for name in ("drift.html", "drift.png", "drift.json"):
            mlflow.log_artifact(str(out / name), artifact_path="drift")


@app.command()
def retrain(
    component: ComponentArg,
    force: Annotated[bool, typer.Option(help="retrain even without new accepted feedback")] = False,
    notify: Annotated[
        str | None, typer.Option(help="service URL to reload at once on promotion (uses $FARGA_API_KEY)")
    ] = None,
    if_alerting: Annotated[
        str | None,
        typer.Option(help="Prometheus URL: retrain only while a drift or disagreement alert fires there"),
    ] = None,
) -> None:
    """Feedback loop: screen new feedback, retrain on HASYv2 + accepted feedback (dvc repro), promote the
    challenger only if it beats the champion (test set, held-out feedback, slices)."""
    from farga.monitoring import retrain as loop
    from farga.serving.settings import ServeSettings

    settings = ServeSettings()
    try:
        components.get(component)
        if if_alerting:
            firing = loop.firing_alerts(if_alerting, component)
            if not firing:
                console.print(f"[green]{component}: no {' / '.join(loop.RETRAIN_ALERTS)} firing; nothing to do[/green]")
                return
            console.print(f"[yellow]{component}: {', '.join(firing)} firing: retraining[/yellow]")
        result = loop.retrain(component, settings, force=force)
        if result.get("promoted") and notify:
            result["service"] = loop.notify(notify, component, settings.api_key.get_secret_value())
    except FargaError as exc:
        raise _fail("retrain", component, exc) from exc
    typer.echo(json.dumps(result, indent=2, default=str))
    if not result["retrained"]:
        console.print(f"[yellow]{component}: not retrained: {result['reason']}[/yellow]")
    elif result["promoted"]:
        console.print(f"[green]{component}: challenger v{result['decision']['version']} promoted[/green]")
    else:
        console.print(f"[yellow]{component}: challenger kept out: {result['decision']['reason']}[/yellow]")


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


store_app = typer.Typer(help="The prediction and feedback store.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("prune")
def store_prune(
    older_than_days: Annotated[
        float | None, typer.Option(min=0, help="default: FARGA_RETENTION_DAYS (90); feedback is always kept")
    ] = None,
) -> None:
    """Past the retention period: delete logged predictions without feedback; feedback forgets its client."""
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore

    settings = ServeSettings()
    days = settings.retention_days if older_than_days is None else older_than_days
    store = FeedbackStore(settings.resolved_database_url())
    pruned = store.prune(days)
    console.print(
        f"deleted {pruned.deleted_predictions} predictions older than {days:g} days without feedback; "
        f"{pruned.anonymised_feedback} older feedback no longer names its client"
    )


@app.command()
def rollback(component: ComponentArg) -> None:
    """Restore the previous champion (the service switches on its next registry check, or an admin reload)."""
    from farga import tracking
    from farga.config import Settings

    try:
        components.get(component)
        tracking.configure(Settings(), component)
        result = tracking.rollback(component)
    except FargaError as exc:
        raise _fail("rollback", component, exc) from exc
    console.print(f"[green]{component}: champion is v{result['champion']} again (was v{result['replaced']})[/green]")
    typer.echo(json.dumps(result, indent=2))


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
            "[bold red]farga soak failed:[/bold red] the service did not become ready; it serves the registry's "
            f"champions under FARGA_ROOT (`make run` makes them): {str(exc)[:500]}"
        )
        raise typer.Exit(code=1) from exc
    for check, measured, met in report.checks():
        console.print(f"{'[green]met[/green]' if met else '[red]NOT met[/red]'}  {check}: {measured}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = report.to_json() | ({"models": models} if models else {})
        out.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


@app.command("reliability-report")
def reliability_report() -> None:
    """Write docs/reliability.md from reports/reliability/ (the fault suite's and the soak's figures)."""
    from farga.config import Settings
    from farga.dev import reliability

    console.print(f"wrote {reliability.write(Settings().root)}")


@app.command("summary")
def summary(
    url: Annotated[str, typer.Option(help="where `farga serve` will answer")] = "http://127.0.0.1:8000",
) -> None:
    """What a pipeline run left: each champion's headline figures, and where to open the page and the API."""
    from rich.markdown import Markdown

    from farga.config import Settings
    from farga.dev import report as pages
    from farga.hashing import read_json

    root = Settings().root
    for headline in pages.headlines(root):
        registry = root / "reports" / headline.component / "registry.json"
        champion = read_json(registry)["aliases"].get("champion", "none") if registry.exists() else "none"
        console.print(Markdown(f"## {headline.component}: champion v{champion}\n\n" + headline.markdown()))
    console.print(
        Markdown(
            f"## Open\n\n- the page: {url}/\n- the API and its docs: {url}/docs\n"
            f"- metrics and readiness: {url}/metrics, {url}/readyz\n\n"
            "The model and dataset cards are in `reports/<component>/`; `make test` runs every test."
        )
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
        console.print("[bold red]run `farga report` (make docs) and commit what it writes[/bold red]")
        raise typer.Exit(code=1)


@app.command("lock-check")
def lock_check() -> None:
    """Fail when a stage's code or params changed since dvc.lock recorded its run (its results are stale)."""
    from farga.config import Settings
    from farga.dev.lockcheck import stale_stages

    try:
        stale = stale_stages(Settings().root)
    except FargaError as exc:
        raise _fail("lock-check", "", exc) from exc
    for stage, changes in stale.items():
        console.print(f"[red]{stage}[/red]: {'; '.join(changes)}")
    if stale:
        console.print(
            "[bold red]these stages' committed results do not come from the committed code:[/bold red] rerun them "
            "(dvc repro), or, where the change cannot alter a result, `dvc commit <stage>` with a message saying why"
        )
        raise typer.Exit(code=1)
    console.print("[green]every stage's lock entry matches its code and params[/green]")


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


@app.command("components")
def list_components() -> None:
    """List the installed components."""
    for name in sorted(components.available()):
        typer.echo(f"{name}\t{components.get(name).summary}")


if __name__ == "__main__":  # pragma: no cover
    app()
