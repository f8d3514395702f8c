"""The shell every component's training run shares, around the loop that is its own.

Rank 0 of a training opens one MLflow run (the checkpoint's own when a restarted run goes on), tags
it and logs the params as ``params.yaml`` wrote them; measures the loop's time and energy; plots the
learning curves; logs the exported files as the model the registry will serve; and at the end
writes ``run.json`` and ``history.json`` and removes the checkpoint. A component brings its loop,
its export and the figures only it knows (``Shell.summary``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farga import energy, tracking
from farga.config import ComponentPaths, StageContext
from farga.distributed import Checkpoint, training_run
from farga.facts import Facts
from farga.hashing import sha256_file, write_json
from farga.params import Strict
from farga.plots import plot_learning_curves

History = list[dict[str, float]]


@dataclass
class Shell:
    """An open training run: what a component's train stage calls between its loop and its export."""

    ctx: StageContext[Any]
    run_id: str
    checkpoint: Checkpoint
    paths: ComponentPaths
    """The component's folders, or one part's (a model trained in parts)."""
    seconds: float = 0.0
    energy: Facts = field(default_factory=dict)

    @contextmanager
    def measured(self) -> Iterator[None]:
        """The loop's wall time and energy (CodeCarbon's estimate, its caveat tagged beside it)."""
        import mlflow

        started = time.perf_counter()
        with energy.track("train") as used:
            yield
        self.seconds = time.perf_counter() - started
        self.energy = used
        mlflow.log_metrics(energy.as_metrics(used))
        mlflow.set_tag("energy.caveat", energy.CAVEAT)

    def curves(self, history: History) -> None:
        import mlflow

        reports = self.paths.reports
        reports.mkdir(parents=True, exist_ok=True)
        mlflow.log_artifact(str(plot_learning_curves(history, reports / "learning_curves.png")), artifact_path="plots")

    def publish(
        self, files: dict[str, Path], extra: Sequence[Path], requirements: Sequence[str], provenance: dict[str, Any]
    ) -> Facts:
        """The exported files logged as the model the registry serves; the summary's first keys."""
        return {
            "run_id": self.run_id,
            "model_uri": tracking.log_served_model(files, extra, requirements, provenance),
            "model_sha256": sha256_file(files["model"]),
        }

    def finish(self, summary: Facts, history: History | None = None) -> Facts:
        """``run.json`` beside the model, ``history.json`` in the reports (a run that trained); the
        checkpoint is spent."""
        write_json(self.paths.models / "run.json", summary)
        if history is not None:
            write_json(self.paths.reports / "history.json", history)
        self.checkpoint.clear()
        return summary


@contextmanager
def training(
    ctx: StageContext[Any],
    checkpoint: Checkpoint,
    resumed: dict[str, Any] | None,
    *,
    data_sha: str,
    logged: Mapping[str, Strict],
    tags: Mapping[str, str],
    step: str,
    epoch_metrics: Callable[[dict[str, Any]], dict[str, float]],
    part: str | None = None,
) -> Iterator[Shell]:
    """Rank 0's run of a training: ``logged`` names the params blocks it records (as written),
    ``step`` the history's key that MLflow steps by, ``epoch_metrics`` a history row's metrics;
    ``part``, the network of a model trained in parts that this run trains (tagged, its own folders)."""
    import mlflow

    source = str(tags["data.source"])
    name = f"train-{source}" if part is None else f"train-{source}-{part}"
    opened = training_run(ctx.settings, ctx.component, name, checkpoint, resumed, epoch_metrics, step)
    with opened as (run, named):
        mlflow.set_tags(
            {
                "component": ctx.component,
                "stage": "train",
                "data.sha256": data_sha,
                **tags,
                "profile": ctx.config.profile,
                **({} if part is None else {"part": part}),
            }
        )
        mlflow.log_params(tracking.flatten({name: block.as_written() for name, block in logged.items()}))
        paths = ctx.paths if part is None else ctx.paths.of_part(part)
        yield Shell(ctx, run.info.run_id, named, paths)
