"""The ``farga`` command, by audience: the lifecycle at the top (data, train, evaluate, register,
serve, ...), ``farga ops`` for running a deployment, ``farga dev`` for maintaining this repository, ``farga new``
for a team bringing its own model.
Each verb is a thin call into the module that holds its logic; a failure is one message and exit 1.
"""

from __future__ import annotations

from farga.config import quiet_environment

quiet_environment()

from farga.cli import dev, lifecycle, new, ops  # noqa: E402  (after the environment is quiet)

app = lifecycle.app
app.add_typer(ops.app, name="ops")
app.add_typer(dev.app, name="dev")
app.add_typer(new.app, name="new")

__all__ = ["app"]
