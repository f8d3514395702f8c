"""MLflow tracking and the model registry, embedded by default, a server by one setting.

Default: a SQLite file (``mlflow.db``) and a local artifact folder (``mlartifacts/``) in the
project. ``FARGA_TRACKING_URI=http://host:5000`` (or any MLflow URI) points both at a server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farga.config import Settings
from farga.gate import Decision, decide, named
from farga.params import Gate

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

CANDIDATE, CHAMPION, PREVIOUS = "candidate", "champion", "previous-champion"


@dataclass(frozen=True)
class RunInfo:
    """The part of a training run's ``run.json`` that every later stage reads: which MLflow run
    and model, trained on which data."""

    run_id: str
    model_uri: str
    data_sha256: str
    data_source: str

    @classmethod
    def read(cls, path: Path) -> RunInfo:
        from farga.hashing import read_json

        raw = read_json(path)
        return cls(*(str(raw[name]) for name in ("run_id", "model_uri", "data_sha256", "data_source")))

    def tags(self) -> dict[str, str]:
        """The registered version's provenance tags."""
        return {"run_id": self.run_id, "data_sha256": self.data_sha256, "data_source": self.data_source}


def configure(settings: Settings, experiment: str) -> str:
    """Point MLflow at the configured backend and make sure the experiment exists; returns its id."""
    import mlflow

    uri = settings.resolved_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = str(found.experiment_id)
    else:
        location = None if settings.tracking_uri else settings.artifact_root.joinpath(experiment).as_uri()
        experiment_id = str(mlflow.create_experiment(experiment, artifact_location=location))
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@contextmanager
def run(settings: Settings, experiment: str, *, run_id: str | None = None, **kwargs: Any) -> Iterator[Any]:
    """Start a new run, or resume ``run_id`` so later stages add to the run that trained the model."""
    import mlflow

    configure(settings, experiment)
    with mlflow.start_run(run_id=run_id, **kwargs) as active:
        yield active


def logged_steps(run_id: str, metric: str) -> set[int]:
    """The steps at which ``metric`` was logged in the run (a restarted training run asks)."""
    from mlflow import MlflowClient

    return {m.step for m in MlflowClient().get_metric_history(run_id, metric)}


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def numeric(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a nested metrics dict, as MLflow metric names."""
    return {k: float(v) for k, v in flatten(metrics, prefix).items() if isinstance(v, int | float)}


def aliases_of(model_name: str) -> dict[str, str]:
    """alias -> version for a registered model ({} when it is not registered yet)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return {k: str(v) for k, v in MlflowClient().get_registered_model(model_name).aliases.items()}
    except MlflowException:
        return {}


def download_champion(settings: Settings, model_name: str, dest: Path) -> tuple[str, Path]:
    """The registry's champion of ``model_name``: (version, local model directory)."""
    from farga.errors import FargaError

    configure(settings, model_name)
    version = aliases_of(model_name).get(CHAMPION)
    if version is None:
        raise FargaError(f"the registry has no champion for {model_name!r}: run the pipeline first")
    return version, download_version(model_name, version, dest / f"v{version}")


def download_version(model_name: str, version: str, dest: Path) -> Path:
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}", dst_path=str(dest)))


def rollback(model_name: str) -> dict[str, Any]:
    """Make the previous champion the champion again; the one replaced becomes ``previous-champion``,
    so a second rollback undoes the first. Services follow on their next registry check."""
    from mlflow import MlflowClient

    from farga.errors import FargaError

    aliases = aliases_of(model_name)
    current, previous = aliases.get(CHAMPION), aliases.get(PREVIOUS)
    if previous is None:
        raise FargaError(f"{model_name!r} has no previous champion to roll back to (aliases: {aliases or 'none'})")
    client = MlflowClient()
    client.set_registered_model_alias(model_name, CHAMPION, previous)
    if current is not None:
        client.set_registered_model_alias(model_name, PREVIOUS, current)
    return {"model": model_name, "champion": previous, "replaced": current, "aliases": aliases_of(model_name)}


def register(
    model_name: str,
    run: RunInfo,
    candidate: dict[str, float],
    score_champion: Callable[[Path], dict[str, float]],
    gate: Gate,
    workdir: Path,
) -> Decision:
    """Register the run's model as ``candidate``; make it ``champion`` if ``gate.decide`` says so.

    The champion is re-scored on the *current* evaluation data by ``score_champion``, so the
    comparison is always on the same data, even when the test set changed since it was promoted.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    version = str(mlflow.register_model(run.model_uri, model_name, tags=run.tags()).version)
    client.set_registered_model_alias(model_name, CANDIDATE, version)
    current = aliases_of(model_name).get(CHAMPION)
    champion = (
        None if current is None else score_champion(download_version(model_name, current, workdir / f"v{current}"))
    )
    verdict = decide(candidate, champion, current, gate)
    if verdict.promote:
        if current is not None:
            client.set_registered_model_alias(model_name, PREVIOUS, current)
        client.set_registered_model_alias(model_name, CHAMPION, version)
    return Decision(
        model=model_name,
        version=version,
        metrics=list(gate.metrics),
        margin=gate.margin,
        candidate_scores={m: candidate[m] for m in gate.metrics if m in candidate},
        champion_version=current,
        promoted=verdict.promote,
        reason=verdict.reason,
        aliases=aliases_of(model_name),
        champion_scores=None if current is None else verdict.champion_scores,
        slice_regressions=None if current is None else verdict.slice_regressions,
        reported_scores=reported_scores(candidate, champion, gate.reported),
    )


def reported_scores(
    candidate: dict[str, float], champion: dict[str, float] | None, names: list[str]
) -> dict[str, dict[str, float]] | None:
    """The gate's reported scores of each model; None when the candidate has none of them."""
    mine = named(candidate, names)
    if not mine:
        return None
    return {"candidate": mine} | ({"champion": named(champion, names)} if champion is not None else {})


def log_served_model(
    files: dict[str, Path], extra_files: Sequence[Path], requirements: Sequence[str], provenance: dict[str, Any]
) -> str:
    """Log the exported model to the active run, as the registry will serve it: the ONNX graph
    (``files["model"]``) with its sidecar files and, for an int8 graph, the float graph it came
    from (a service may serve that where int8 does not pay). Returns the model URI to register."""
    import mlflow
    import onnx

    shipped = [*extra_files, *([files["float_model"]] if "float_model" in files else [])]
    info = mlflow.onnx.log_model(
        onnx_model=onnx.load(str(files["model"])),
        save_as_external_data=False,
        name="model",
        extra_files=[str(p) for p in shipped],
        pip_requirements=list(requirements),
        metadata=provenance,
    )
    return str(info.model_uri)
