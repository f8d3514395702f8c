"""The lifecycle stages, generic over components: what ``dvc.yaml`` and the CLI call.

Component-specific work is delegated to the component; the registry gate and the cards are
shared, so every component is promoted and documented by the same rules.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from farga import components, tracking
from farga.config import StageContext
from farga.hashing import read_json, write_json

STAGES = ("fetch", "prepare", "validate", "train", "evaluate", "register")
# stages a component may offer, run on demand rather than in the pipeline
OPTIONAL_STAGES = ("validate_feedback",)


def register(ctx: StageContext) -> dict[str, Any]:
    component = components.get(ctx.component)
    run_info = read_json(ctx.paths.models / "run.json")
    metrics = read_json(ctx.paths.metrics)
    cfg = ctx.params["register"]
    tracking.configure(ctx.settings, ctx.component)
    with tempfile.TemporaryDirectory() as tmp:
        decision = tracking.register(
            model_name=ctx.component,
            model_uri=run_info["model_uri"],
            candidate=tracking.numeric(metrics),
            score_champion=lambda model_dir: tracking.numeric(component.call("score", ctx, model_dir)),
            metrics=[str(m) for m in cfg["metrics"]],
            margin=float(cfg["margin"]),
            tags={
                "run_id": run_info["run_id"],
                "data_sha256": run_info["data_sha256"],
                "data_source": run_info["data_source"],
            },
            workdir=Path(tmp),
            slices=list(cfg.get("slices", [])),
            slice_tolerance=float(cfg.get("slice_tolerance", 0.0)),
        )
    reports = ctx.paths.reports
    write_json(reports / "registry.json", decision)
    cards = component.call("cards", ctx, {**metrics, "registry": decision, "run": run_info})
    paths = [card.write(reports / f"{kind}.md") for kind, card in cards.items()]
    with tracking.run(ctx.settings, ctx.component, run_id=run_info["run_id"]):
        import mlflow

        mlflow.set_tags({"registry.version": decision["version"], "registry.promoted": decision["promoted"]})
        for path in paths:
            mlflow.log_artifact(str(path), artifact_path="cards")
    return decision


def check(ctx: StageContext) -> dict[str, Any]:
    component = components.get(ctx.component)
    if not component.has("check"):
        return {"checked": False, "reason": f"{ctx.component} has no data preflight"}
    result: dict[str, Any] = component.call("check", ctx)
    return result


def run_stage(stage: str, ctx: StageContext, **kwargs: Any) -> dict[str, Any]:
    if stage == "register":
        return register(ctx)
    if stage == "check":
        return check(ctx)
    if stage not in STAGES + OPTIONAL_STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES + OPTIONAL_STAGES)}")
    component = components.get(ctx.component)
    if not component.has(stage):
        raise components.UnknownComponentError(f"{ctx.component} has no {stage} stage")
    args = (ctx, kwargs["archive"]) if "archive" in kwargs else (ctx,)
    result: dict[str, Any] = component.call(stage, *args)
    return result
