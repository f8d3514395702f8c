"""``farga feedback ...`` and ``farga review``: what people do with what users taught (cli.py mounts them)."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from farga import components
from farga.config import StageContext
from farga.errors import FargaError

console = Console(stderr=True)
ComponentArg = Annotated[str, typer.Argument(help="component name (`farga components` lists them)")]


def _fail(verb: str, component: str, exc: Exception) -> typer.Exit:
    console.print(f"[bold red]farga {verb} {component} failed:[/bold red] {exc}")
    return typer.Exit(code=1)


feedback_app = typer.Typer(help="Work with the feedback users gave.", no_args_is_help=True)


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
        result = comp.export_feedback(StageContext.load(component), store, out, not all_)
    except ModuleNotFoundError as exc:  # the serving install has no pandas
        console.print(f"[red]feedback export needs the pipeline install (pip install 'farga[pipeline]'): {exc}[/red]")
        raise typer.Exit(code=1) from exc
    typer.echo(json.dumps(result, indent=2))


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


@feedback_app.command("screen")
def feedback_screen(component: ComponentArg) -> None:
    """Screen new feedback with the champion: accept it, or quarantine labels it and the nearest drawings contradict."""
    from farga.monitoring.retrain import screen
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore

    settings = ServeSettings()
    try:
        verdicts, version, _ = screen(component, settings, FeedbackStore(settings.resolved_database_url()))
    except FargaError as exc:
        raise _fail("feedback screen", component, exc) from exc
    _verdict_table(f"{component}: {len(verdicts)} feedback screened with champion v{version}", verdicts)


@feedback_app.command("review")
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
            raise _fail("feedback review", component, exc) from exc
        console.print(f"[green]{len(verdicts)} feedback reviewed[/green]")
    waiting = [
        {"prediction_id": p.id, "label": p.feedback_label, "model_top1": p.top1, "review": p.review_note}
        for p in store.labelled(component, review="quarantined")
    ]
    _verdict_table(f"{component}: {len(waiting)} feedback quarantined, waiting for review", waiting)


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
        raise _fail("review", component, components.lacking(component, "class review"))
    store = FeedbackStore(ServeSettings().resolved_database_url())
    ctx = StageContext.load(component)
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
        raise _fail("review", component, exc) from exc


def _waiting_table(component: str, rows: list[Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{component}: {len(rows)} taught labels no person has decided on")
    for column in ("label", "drawings", "clients", "days", "lacks", "contact sheet"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["label"], str(r["drawings"]), str(r["clients"]), str(r["days"]), r["lacks"], r["sheet"])
    console.print(table)
