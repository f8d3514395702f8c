"""``farga ops retrain``: from users' corrections to a challenger, promoted only if it is better.

1. screen the feedback not reviewed yet against the champion (suspicious labels are quarantined
   for a person: ``farga ops quarantine``);
2. if accepted feedback arrived since the champion was registered, re-run the DVC pipeline: its
   first stage exports the accepted feedback (DVC versions it with the data it joins), prepare
   adds it to training and holds part of it out, train/evaluate make the challenger;
3. the registry gate compares challenger and champion on the frozen test set, on the held-out
   feedback and per slice, and promotes only a better model that regresses nowhere;
4. services follow the registry on their own (every reload interval), or at once when told to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from farga import components, tracking
from farga.errors import FargaError
from farga.hashing import read_json
from farga.http import request_json
from farga.serving.models import ModelSource
from farga.serving.settings import ServeSettings
from farga.serving.store import FeedbackStore


def champion(component: str, settings: ServeSettings) -> tuple[str, Path, datetime]:
    """(version, local model directory, when it was registered) of the registry's champion."""
    from mlflow import MlflowClient

    source = ModelSource(component, settings.resolved_tracking_uri(), None, settings.cache_dir() / "retrain")
    tracking.configure(settings, component)
    version = tracking.aliases_of(component).get(tracking.CHAMPION)
    if version is None:
        raise FargaError(f"the registry has no champion for {component!r}: run the pipeline first")
    registered = MlflowClient().get_model_version(component, version).creation_timestamp
    return version, source.fetch(version), datetime.fromtimestamp(registered / 1000, UTC)


def screen(component: str, settings: ServeSettings, store: FeedbackStore) -> tuple[list[dict[str, Any]], str, datetime]:
    """Screen the unreviewed feedback with the champion: (verdicts, champion version, its registration)."""
    comp = components.get(component)
    if not isinstance(comp, components.ScreensFeedback):
        raise components.lacking(component, "feedback screening")
    ctx = components.context(component, settings)
    version, model_dir, registered = champion(component, settings)
    verdicts = comp.screen_feedback(ctx, store, model_dir)
    return verdicts, version, registered


def retrain(component: str, settings: ServeSettings, *, force: bool = False) -> dict[str, Any]:
    root = settings.root
    if not (root / "dvc.yaml").exists() or not (root / ".dvc").is_dir():
        raise FargaError(f"{root} is not a DVC project (dvc.yaml and .dvc/): retrain runs the versioned pipeline")
    store = FeedbackStore(settings.resolved_database_url())
    verdicts, version, registered = screen(component, settings, store)
    new = sum(1 for _ in store.labelled(component, since=registered, review="accepted"))
    result: dict[str, Any] = {
        "champion_before": version,
        "screened": len(verdicts),
        "quarantined": sum(not v["accepted"] for v in verdicts),
        "new_accepted_feedback": new,
    }
    if new == 0 and not force:
        return result | {"retrained": False, "reason": f"no accepted feedback since champion v{version} was registered"}
    dvc = shutil.which("dvc")
    if dvc is None:
        raise FargaError("dvc is not on PATH (install the pipeline extras)")
    env = {**os.environ, "FARGA_ROOT": str(root)}
    # the pipeline's progress goes to stderr: stdout carries only the result, for scripts. The feedback
    # export is an input DVC cannot hash (a database): it is refreshed here, on purpose, and only here.
    steps = [[dvc, "repro", f"{component}-register"]]
    if isinstance(components.get(component), components.ExportsFeedback):
        steps.insert(0, [dvc, "repro", "--force", "--single-item", f"{component}-feedback"])
    for step in steps:
        done = subprocess.run(step, cwd=root, env=env, stdout=sys.stderr, check=False)
        if done.returncode != 0:
            raise FargaError(f"the pipeline failed ({' '.join(step[1:])} exited {done.returncode})")
    decision = read_json(root / "reports" / component / "registry.json")
    return result | {"retrained": True, "decision": decision, "promoted": decision["promoted"]}


# the alerts that say the model no longer fits its traffic: each may start a retrain
RETRAIN_ALERTS = ("FargaDriftDetected", "FargaDisagreementRising", "FargaNoneOfTheseRising")


def firing_alerts(prometheus: str, component: str) -> list[str]:
    """The retrain-worthy alerts firing for ``component`` in a Prometheus (its HTTP API)."""
    body = request_json(f"{prometheus.rstrip('/')}/api/v1/alerts", what="Prometheus")
    return sorted(
        {
            a["labels"]["alertname"]
            for a in body["data"]["alerts"]
            if a["state"] == "firing"
            and a["labels"].get("alertname") in RETRAIN_ALERTS
            and a["labels"].get("component", component) == component
        }
    )


def notify(base_url: str, component: str, api_key: str) -> dict[str, Any]:
    """Ask a running service to load the registry's champion now (it would within its reload interval)."""
    reloaded: dict[str, Any] = request_json(
        f"{base_url.rstrip('/')}/v1/admin/reload/{component}",
        method="POST",
        headers={"X-API-Key": api_key},
        what="service",
    )
    return reloaded
