"""MLflow tracking and the model registry, embedded by default, a server by one setting.

Default: a SQLite file (``mlflow.db``) and a local artifact folder (``mlartifacts/``) in the
project. ``FARGA_TRACKING_URI=http://host:5000`` (or any MLflow URI) points both at a server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from farga.config import Settings

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

CANDIDATE, CHAMPION, PREVIOUS = "candidate", "champion", "previous-champion"


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


def slice_regressions(
    candidate: dict[str, float], champion: dict[str, float], slices: Sequence[str], tolerance: float
) -> dict[str, dict[str, float]]:
    """Slice metrics (``name`` or ``name.*``) where the candidate is more than ``tolerance`` below the champion."""
    out = {}
    for key, theirs in champion.items():
        named = any(key == s or key.startswith(f"{s}.") for s in slices)
        if named and key in candidate and theirs - candidate[key] > tolerance:
            out[key] = {"candidate": candidate[key], "champion": theirs, "drop": theirs - candidate[key]}
    return out


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
    model_uri: str,
    candidate: dict[str, float],
    score_champion: Callable[[Path], dict[str, float]],
    metrics: Sequence[str],
    margin: float,
    tags: dict[str, str],
    workdir: Path,
    *,
    slices: Sequence[str] = (),
    slice_tolerance: float = 0.0,
) -> dict[str, Any]:
    """Register a model version as ``candidate``; make it ``champion`` only if it is better and
    nothing got worse: it beats the champion by ``margin`` on at least one of ``metrics``, and
    neither those metrics nor any slice (metrics named by ``slices``) fall more than
    ``slice_tolerance`` below the champion. A metric either model lacks (no held-out feedback
    yet, say) is left out of the comparison.

    The champion is re-scored on the *current* evaluation data by ``score_champion``, so the
    comparison is always on the same data, even when the test set changed since it was promoted.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    version = mlflow.register_model(model_uri, model_name, tags=tags).version
    client.set_registered_model_alias(model_name, CANDIDATE, version)
    current = aliases_of(model_name).get(CHAMPION)
    decision: dict[str, Any] = {
        "model": model_name,
        "version": str(version),
        "metrics": list(metrics),
        "margin": margin,
        "candidate_scores": {m: candidate[m] for m in metrics if m in candidate},
        "champion_version": current,
    }
    if current is None:
        promote, reason = True, "no champion yet"
    else:
        champion_scores = score_champion(download_version(model_name, current, workdir / f"v{current}"))
        compared = [m for m in metrics if m in candidate and m in champion_scores]
        if not compared:
            raise ValueError(f"neither model has any of the gate's metrics {list(metrics)}")
        decision["champion_scores"] = {m: champion_scores[m] for m in compared}
        better = [m for m in compared if candidate[m] >= champion_scores[m] + margin]
        regressed = slice_regressions(candidate, champion_scores, [*compared, *slices], slice_tolerance)
        decision["slice_regressions"] = regressed
        promote = bool(better) and not regressed
        scores = ", ".join(f"{m} {candidate[m]:.4f} vs {champion_scores[m]:.4f}" for m in compared)
        verb = f"beats champion v{current} on {', '.join(better)}" if better else f"does not beat champion v{current}"
        reason = f"candidate {verb} by margin {margin} ({scores})"
        if regressed:
            reason += f"; more than {slice_tolerance} below the champion on: {', '.join(sorted(regressed))}"
    if promote:
        if current is not None:
            client.set_registered_model_alias(model_name, PREVIOUS, current)
        client.set_registered_model_alias(model_name, CHAMPION, version)
    decision.update(promoted=promote, reason=reason, aliases=aliases_of(model_name))
    return decision


def log_served_model(
    files: dict[str, Path], extra_files: Sequence[Path], requirements: Sequence[str], provenance: dict[str, Any]
) -> str:
    """Log the exported model to the active run, as the registry will serve it: the ONNX graph
    (``files["model"]``) with its sidecar files; the float graph an int8 one came from, when there
    is one, beside it for comparison. Returns the model URI to register."""
    import mlflow
    import onnx

    if "float_model" in files:
        mlflow.log_artifact(str(files["float_model"]), artifact_path="float_model")
    info = mlflow.onnx.log_model(
        onnx_model=onnx.load(str(files["model"])),
        save_as_external_data=False,
        name="model",
        extra_files=[str(p) for p in extra_files],
        pip_requirements=list(requirements),
        metadata=provenance,
    )
    return str(info.model_uri)
