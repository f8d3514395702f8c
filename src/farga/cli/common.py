"""What every verb shares: the component argument, the console, and the one way to fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from farga import components
from farga.errors import FargaError

console = Console(stderr=True)
ComponentArg = Annotated[str, typer.Argument(help="component name (`farga components` lists them)")]


def fail(verb: str, component: str, exc: Exception) -> typer.Exit:
    """A failure the user can act on: the message, and exit status 1 (raise what this returns)."""
    console.print(f"[bold red]farga {verb} {component} failed:[/bold red] {exc}")
    return typer.Exit(code=1)


def run_stage_verb(stage: str, component: str, archive: Path | None = None, part: str | None = None) -> None:
    """A pipeline stage as a verb: its facts on stdout (for scripts), its progress on stderr."""
    from farga.pipeline import run_stage

    try:
        ctx = components.context(component)
        result = run_stage(stage, ctx, archive, part)
    except (FargaError, FileNotFoundError) as exc:
        raise fail(stage, component, exc) from exc
    console.print(f"[green]{stage} {component}: done[/green]")
    typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
