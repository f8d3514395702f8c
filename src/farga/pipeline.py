"""The lifecycle stages, generic over components: what ``dvc.yaml`` and the CLI call.

Component-specific work is delegated to the component; the registry gate and the cards are
shared, so every component is promoted and documented by the same rules.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from farga import components, tracking
from farga.components import Ctx
from farga.errors import FargaError
from farga.facts import Facts
from farga.hashing import read_json, write_json

STAGES = ("fetch", "prepare", "validate", "train", "evaluate", "register")
# stages a component may offer, run on demand rather than in the pipeline
OPTIONAL_STAGES = ("validate_feedback",)


def register(ctx: Ctx) -> Facts:
    component = components.get(ctx.component)
    run = tracking.RunInfo.read(ctx.paths.models / "run.json")
    metrics = read_json(ctx.paths.metrics)
    tracking.configure(ctx.settings, ctx.component)
    with tempfile.TemporaryDirectory() as tmp:
        decision = tracking.register(
            ctx.component,
            run,
            tracking.numeric(metrics),
            lambda model_dir: tracking.numeric(component.score(ctx, model_dir)),
            ctx.config.gate,
            Path(tmp),
        )
    reports = ctx.paths.reports
    facts = decision.to_json()
    write_json(reports / "registry.json", facts)
    cards = component.cards(ctx, {**metrics, "registry": facts, "run": read_json(ctx.paths.models / "run.json")})
    paths = [card.write(reports / f"{kind}.md") for kind, card in cards.items()]
    with tracking.run(ctx.settings, ctx.component, run_id=run.run_id):
        import mlflow

        mlflow.set_tags({"registry.version": decision.version, "registry.promoted": decision.promoted})
        for path in paths:
            mlflow.log_artifact(str(path), artifact_path="cards")
    return facts


def run_stage(stage: str, ctx: Ctx, archive: Path | None = None, part: str | None = None) -> Facts:
    component = components.get(ctx.component)
    if part is not None:
        if stage != "train":
            raise FargaError(f"only training goes by parts, not {stage}")
        if not isinstance(component, components.TrainsInParts):
            raise components.lacking(ctx.component, "model trained in parts")
        if part not in (known := component.parts(ctx)):
            raise FargaError(f"{ctx.component} has no part {part!r}; its parts: {', '.join(known)}")
        return component.train_part(ctx, part)
    match stage:
        case "fetch":
            return component.fetch(ctx, archive)
        case "prepare":
            return component.prepare(ctx)
        case "validate":
            return component.validate(ctx)
        case "train":
            return component.train(ctx)
        case "evaluate":
            return component.evaluate(ctx)
        case "register":
            return register(ctx)
        case "check":
            if not isinstance(component, components.Checks):
                return {"checked": False, "reason": f"{ctx.component} has no data preflight"}
            return component.check(ctx)
        case "validate_feedback":
            if not isinstance(component, components.ValidatesFeedback):
                raise components.lacking(ctx.component, "feedback contract")
            if archive is None:
                raise ValueError("validate_feedback needs the exported feedback archive")
            return component.validate_feedback(ctx, archive)
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES + OPTIONAL_STAGES)}")
