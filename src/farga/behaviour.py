"""``farga test-model``: a component's behavioural tests (farga.checklist) run on a model, by default
the registry's champion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from farga import components, tracking
from farga.checklist import summarise
from farga.errors import FargaError
from farga.hashing import write_json
from farga.params import BehaviourTested


def run_model_tests(component: str, model: Path | None) -> tuple[dict[str, Any], str]:
    """``farga test-model``: a component's behavioural tests on ``model`` (default: the registry's
    champion, downloaded); the summary is also written to its reports (behaviour.json)."""
    import tempfile

    ctx = components.context(component)
    comp = components.get(component)
    if not isinstance(comp, components.Behaves):
        raise components.lacking(component, "behavioural tests")
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            version, path = tracking.download_champion(ctx.settings, component, Path(tmp))
            label = f"{component} champion v{version}"
        else:
            path, label = model, str(model)
        if not path.exists():
            raise FargaError(f"no model at {path}")
        cases = comp.behaviour(ctx, path)
    config = ctx.config
    if not isinstance(config, BehaviourTested):
        raise components.lacking(component, "behaviour block in its params (farga test-model)")
    summary = summarise(cases, config.behaviour.thresholds)
    write_json(ctx.paths.reports / "behaviour.json", {"model": label, **summary})
    return summary, label
