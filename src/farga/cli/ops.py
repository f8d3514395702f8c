"""``farga ops``: running a deployment: drift, retraining, rollback, retention, what people review."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from farga import components, params
from farga.cli.common import ComponentArg, console, fail
from farga.errors import FargaError

app = typer.Typer(help="Run a deployment: monitor, retrain, roll back, prune, review feedback.", no_args_is_help=True)


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
    from farga.monitoring.monitor import Monitor, log_drift, summary_line
    from farga.serving.settings import ServeSettings

    try:
        ctx = components.context(component)
        settings = ServeSettings()
        if not isinstance(ctx.config, params.Monitored):
            raise components.lacking(component, "monitor block in its params (drift monitoring)")
        rules = ctx.config.monitor.model_copy(update={"window": window} if window else {})
        runner = Monitor(component, settings, rules, out or ctx.paths.reports / "monitor")
        if watch:
            import logging

            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            runner.watch(interval, host, port)
            return
        report = runner.run_once()
    except (FargaError, FileNotFoundError, KeyError) as exc:
        raise fail("ops monitor", component, exc) from exc
    log_drift(report, runner.out, settings)
    colour = "red" if report["drifted"] else "green"
    console.print(f"[{colour}]{component} v{report['model_version']}: {summary_line(report)}[/{colour}]")
    if report["judged"]:
        console.print(f"report: {runner.out / 'drift.html'}")
    if fail_on_drift and report["drifted"]:
        raise typer.Exit(code=3)


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
        raise fail("ops retrain", component, exc) from exc
    typer.echo(json.dumps(result, indent=2, default=str))
    if not result["retrained"]:
        console.print(f"[yellow]{component}: not retrained: {result['reason']}[/yellow]")
    elif result["promoted"]:
        console.print(f"[green]{component}: challenger v{result['decision']['version']} promoted[/green]")
    else:
        console.print(f"[yellow]{component}: challenger kept out: {result['decision']['reason']}[/yellow]")


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
        raise fail("ops rollback", component, exc) from exc
    console.print(f"[green]{component}: champion is v{result['champion']} again (was v{result['replaced']})[/green]")
    typer.echo(json.dumps(result, indent=2))


@app.command("prune")
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


def _verdict_table(title: str, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("prediction", "label", "model said", "p(label)", "neighbours", "review"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["prediction_id"],
            r["label"],
            r["model_top1"],
            f"{r['model_probability']:.3f}" if "model_probability" in r else "",
            f"{r['neighbour_share']:.0%}" if "neighbour_share" in r else "",
            r.get("review") or ("accepted" if r.get("accepted") else "quarantined"),
        )
    Console().print(table)


@app.command("screen")
def feedback_screen(component: ComponentArg) -> None:
    """Screen new feedback with the champion: accept it, or quarantine labels it and the nearest drawings contradict."""
    from farga.monitoring.retrain import screen
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore

    settings = ServeSettings()
    try:
        verdicts, version, _ = screen(component, settings, FeedbackStore(settings.resolved_database_url()))
    except FargaError as exc:
        raise fail("ops screen", component, exc) from exc
    _verdict_table(f"{component}: {len(verdicts)} feedback screened with champion v{version}", verdicts)


@app.command("quarantine")
def feedback_review(
    component: ComponentArg,
    accept: Annotated[list[str] | None, typer.Option(help="prediction id to accept for training (repeatable)")] = None,
    reject: Annotated[list[str] | None, typer.Option(help="prediction id to keep out of training (repeatable)")] = None,
) -> None:
    """List quarantined feedback, or accept / reject it: a person decides what the screening doubted."""
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore, NotFoundError

    store = FeedbackStore(ServeSettings().resolved_database_url())
    verdicts = {i: ("accepted", "accepted by a reviewer") for i in accept or []} | {
        i: ("rejected", "rejected by a reviewer") for i in reject or []
    }
    if verdicts:
        try:
            store.set_review(component, verdicts)
        except NotFoundError as exc:
            raise fail("ops quarantine", component, exc) from exc
        console.print(f"[green]{len(verdicts)} feedback reviewed[/green]")
    waiting = [
        {"prediction_id": p.id, "label": p.feedback_label, "model_top1": p.top1, "review": p.review_note}
        for p in store.labelled(component, review="quarantined")
    ]
    _verdict_table(f"{component}: {len(waiting)} feedback quarantined, waiting for review", waiting)


@app.command("review")
def review(
    component: ComponentArg,
    approve: Annotated[
        str | None, typer.Option(help="a waiting label to admit as a class (it keeps its id for good)")
    ] = None,
    refuse: Annotated[str | None, typer.Option(help="a label to refuse: its feedback never trains")] = None,
    why: Annotated[str, typer.Option(help="the reason, kept in the audit log")] = "",
    needs: Annotated[
        str | None,
        typer.Option(help="what the class needs (a LaTeX package, say), if not what most of its feedback named"),
    ] = None,
    by: Annotated[str | None, typer.Option(help="who decides (default: the login name); kept in the audit log")] = None,
    sheets: Annotated[Path, typer.Option(help="where the contact sheets (PNG) of waiting labels go")] = Path(
        "reports/review"
    ),
) -> None:
    """List the labels users taught that wait for a person (with what each lacks and a contact sheet
    of its drawings), or approve / refuse one; the decision is stored and audited."""
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore

    comp = components.get(component)
    if not isinstance(comp, components.ReviewsClasses):
        raise fail("ops review", component, components.lacking(component, "class review"))
    store = FeedbackStore(ServeSettings().resolved_database_url())
    ctx = components.context(component)
    who = by or os.environ.get("FARGA_REVIEWER") or getpass.getuser()
    try:
        if approve is not None:
            typer.echo(json.dumps(comp.approve_class(ctx, store, approve, who, why, needs)))
        if refuse is not None:
            if not why:
                raise FargaError("say why (--why): the reason is kept in the audit log")
            typer.echo(json.dumps(comp.refuse_class(ctx, store, refuse, who, why)))
        if approve is None and refuse is None:
            waiting = comp.waiting_classes(ctx, store, sheets / component)
            _waiting_table(component, waiting)
            typer.echo(json.dumps(waiting, indent=2))
    except FargaError as exc:
        raise fail("ops review", component, exc) from exc


def _waiting_table(component: str, rows: list[Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{component}: {len(rows)} taught labels no person has decided on")
    for column in ("label", "drawings", "clients", "days", "lacks", "contact sheet"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["label"], str(r["drawings"]), str(r["clients"]), str(r["days"]), r["lacks"], r["sheet"])
    console.print(table)
