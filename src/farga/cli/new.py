"""``farga new``: the door a team with its own prototype walks through (docs/adding-a-component.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from farga.cli.common import console
from farga.errors import FargaError

app = typer.Typer(help="Start something new from this repository's templates.", no_args_is_help=True)


@app.command("component")
def component(
    name: Annotated[str, typer.Argument(help="its name: farga.NAME, /v1/NAME, its params section and stages")],
    summary: Annotated[str | None, typer.Option(help="one line on what it does")] = None,
    title: Annotated[str | None, typer.Option(help="its tab's title on the page")] = None,
    page_order: Annotated[int, typer.Option(help="where its tab sits on the page (lower first)")] = 100,
    install: Annotated[
        bool,
        typer.Option(
            help="re-install the package (its entry point live), regenerate the pages and run its pipeline "
            "on generated data (dvc repro NAME-register, seconds)"
        ),
    ] = True,
) -> None:
    """A working component from templates/component: code, tests in each layer, its params section, its
    DVC stages and its entry point; trained and registered on generated data, so that it serves at once."""
    from farga.config import Settings
    from farga.dev.scaffold import Answers, new_component

    root = Settings().root
    try:
        made = new_component(root, Answers(name, summary, title, page_order), install=install)
    except FargaError as exc:
        console.print(f"[bold red]farga new component {name} failed:[/bold red] {exc}")
        raise typer.Exit(code=1) from exc
    for path in made.created:
        console.print(f"created {path.relative_to(root)}")
    for path in made.edited:
        console.print(f"edited  {path.relative_to(root)}")
    trained = f"trained and registered on generated data (reports/{name}/)" if install else "not trained yet"
    console.print(
        f"[green]{name} is ready[/green], {trained}. Next: `make run` (its tab is on the page), commit it, then bring "
        "your data, model and metric: docs/adding-a-component.md."
    )
