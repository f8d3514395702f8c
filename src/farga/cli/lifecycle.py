"""The lifecycle: data, training, tuning, evaluation, the registry, serving, a component's feedback export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from farga import components
from farga.cli.common import ComponentArg, console, fail, run_stage_verb
from farga.errors import FargaError

app = typer.Typer(
    help="Farga: prototype models forged into production ML components. The lifecycle verbs are here; "
    "`farga ops` runs a deployment, `farga dev` maintains this repository.",
    no_args_is_help=True,
)
data_app = typer.Typer(help="Obtain, prepare and validate a component's data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
feedback_app = typer.Typer(help="The feedback users gave, in the training format.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")


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
    run_stage_verb("fetch", component, archive=archive)


@data_app.command("check")
def check(component: ComponentArg) -> None:
    """Make sure the raw data can be obtained (finds or downloads it) before a long pipeline run."""
    run_stage_verb("check", component)


@data_app.command("validate-feedback")
def validate_feedback(
    component: ComponentArg,
    archive: Annotated[Path, typer.Option(help="exported feedback (farga feedback export ... --out)")],
) -> None:
    """Check exported feedback before it may join the training data: labels, images, no test images."""
    run_stage_verb("validate_feedback", component, archive=archive)


@data_app.command("prepare")
def prepare(component: ComponentArg) -> None:
    """Split the data and cache arrays plus a per-sample manifest."""
    run_stage_verb("prepare", component)


@data_app.command("validate")
def validate(component: ComponentArg) -> None:
    """Check the prepared data against its contract; stop with a report on any violation."""
    run_stage_verb("validate", component)


@app.command()
def train(
    component: ComponentArg,
    part: Annotated[
        str | None,
        typer.Option(help="one network of a model trained in parts (the stage's foreach); without it, the model"),
    ] = None,
) -> None:
    """Train the model, log it to MLflow and export it to ONNX. A model made of several networks
    trains each that is missing or stale, then joins them.

    With FARGA_TRAIN_PROCESSES (or FARGA_TRAIN_NODES) above 1, under torchrun with DistributedDataParallel
    (docs/scale.md)."""
    from farga import distributed
    from farga.config import Settings

    try:
        status = distributed.launch(Settings(), ["train", component, *(["--part", part] if part else [])])
    except FargaError as exc:
        raise fail("train", component, exc) from exc
    if status is not None:
        raise typer.Exit(code=status)
    run_stage_verb("train", component, part=part)


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
        raise fail("tune", component, FargaError(f"--then must be run, queue or none, not {then!r}"))
    started = time.monotonic()
    try:
        ctx = components.context(component)
        outcome = search(ctx, study, then, baseline)  # type: ignore[arg-type]
    except FargaError as exc:
        raise fail("tune", component, exc) from exc
    if out is not None:
        command = "farga " + " ".join(sys.argv[1:])
        write_json(out, report(outcome, ctx, command, time.monotonic() - started))
    typer.echo(json.dumps(outcome.facts(), indent=2, sort_keys=True))


@app.command()
def evaluate(component: ComponentArg) -> None:
    """Score the exported model on the test split; write metrics and plots."""
    run_stage_verb("evaluate", component)


@app.command()
def register(component: ComponentArg) -> None:
    """Register the model as candidate; promote it to champion only if it beats the champion."""
    run_stage_verb("register", component)


@app.command()
def pipeline(component: ComponentArg) -> None:
    """Run every stage in order, in this process (``dvc repro`` is the tracked way)."""
    from farga.pipeline import STAGES

    for stage in STAGES:
        run_stage_verb(stage, component)


@app.command("test-model")
def model_tests(
    component: ComponentArg,
    model: Annotated[
        Path | None, typer.Option(help="an exported model (directory or .onnx); default: the registry's champion")
    ] = None,
) -> None:
    """Behavioural tests (CheckList): minimum functionality, invariance, directional; fails under a threshold."""
    from farga.behaviour import run_model_tests
    from farga.checklist import print_report

    try:
        summary, label = run_model_tests(component, model)
    except (FargaError, FileNotFoundError, KeyError) as exc:
        raise fail("test-model", component, exc) from exc
    print_report(summary, label, Console())
    if not summary["passed"]:
        failed = [name for name, f in summary["families"].items() if not f["passed"]]
        console.print(f"[bold red]{label} fails the behavioural tests: {', '.join(failed)}[/bold red]")
        raise typer.Exit(code=1)
    console.print(f"[green]{label} passes every behavioural test family[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    components_: Annotated[str, typer.Option("--components", help="comma-separated components to serve")] = "",
) -> None:
    """Serve the registry's champion models over HTTP (FastAPI + ONNX Runtime), with the web page at /."""
    from farga.serving.server import run

    run(host, port, workers, components_)


@app.command()
def bench(
    component: ComponentArg,
    seconds: Annotated[int, typer.Option(help="wrk duration per level")] = 10,
    workers: Annotated[int, typer.Option(help="uvicorn workers per service")] = 2,
    out: Annotated[
        Path | None, typer.Option(help="also write the report here (markdown): its section, the others kept")
    ] = None,
) -> None:
    """Benchmark serving: latency and throughput of the exported model, in process and over HTTP."""
    from farga.config import Settings

    try:
        comp = components.get(component)
        if not isinstance(comp, components.Benches):
            raise components.lacking(component, "benchmark")
        text = comp.bench(Settings().root, seconds, workers)
    except (FargaError, FileNotFoundError, RuntimeError) as exc:
        raise fail("bench", component, exc) from exc
    typer.echo(text)
    if out is not None:
        from farga.serving_benchmark import write_section

        write_section(out, component, text)


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


@app.command("components")
def list_components() -> None:
    """List the installed components."""
    for name in sorted(components.available()):
        typer.echo(f"{name}\t{components.get(name).summary}")


@feedback_app.command("export")
def feedback_export(
    component: ComponentArg,
    out: Annotated[Path, typer.Option(help="file to write, in the component's training format")],
    all_: Annotated[
        bool, typer.Option("--all", help="every labelled prediction, not only the accepted (screened or reviewed)")
    ] = False,
) -> None:
    """Write the labelled feedback in the component's training format (the pipeline's first stage)."""
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore

    comp = components.get(component)
    if not isinstance(comp, components.ExportsFeedback):
        console.print(f"[red]{component} has no feedback export[/red]")
        raise typer.Exit(code=1)
    store = FeedbackStore(ServeSettings().resolved_database_url())
    try:
        result = comp.export_feedback(components.context(component), store, out, not all_)
    except ModuleNotFoundError as exc:  # the serving install has no pandas
        console.print(f"[red]feedback export needs the pipeline install (pip install 'farga[pipeline]'): {exc}[/red]")
        raise typer.Exit(code=1) from exc
    typer.echo(json.dumps(result, indent=2))
