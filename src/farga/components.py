"""The plug-in point: a component names the functions that do its lifecycle stages.

Shared machinery (CLI, pipeline, registry gate, cards) only talks to this interface, so a new
component is a new folder plus one ``farga.components`` entry point, and nothing else changes.
Functions are named as ``"module:function"`` and imported when called, so that serving code can
import a component without pulling in torch or MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from farga.errors import FargaError

# fetch(ctx, archive) / prepare, validate, train, evaluate (ctx) -> facts
# score(ctx, model_dir) -> metrics of any exported model on the current test set (registry gate)
# cards(ctx, facts) -> {"model_card": Card, "dataset_card": Card}
# check(ctx) -> facts (optional): can the data be obtained? a preflight before a long pipeline
# service(serve_settings, store) -> ComponentService (optional): the component's API routes and model slot
# export_feedback(store, dest, accepted_only) -> facts (optional): labelled feedback in the training format
# screen_feedback(store, model_dir, feedback_params) -> verdicts (optional): accept or quarantine new feedback
# drift_samples(model_dir, logged_inputs) -> (reference, current) monitoring.drift.Sample (optional)
# validate_feedback(ctx, archive) -> facts (optional): exported feedback's contract, before it may enter training
# behaviour(ctx, model_path) -> [behaviour.Case] (optional): CheckList cases; thresholds in params behaviour.thresholds
# bench(root, seconds, workers) -> markdown (optional): the serving benchmark, `farga bench <name>`
REQUIRED = ("fetch", "prepare", "validate", "train", "evaluate", "score", "cards")


class UnknownComponentError(FargaError, LookupError):
    pass


@dataclass(frozen=True)
class Component:
    name: str
    summary: str
    functions: Mapping[str, str]

    def __post_init__(self) -> None:
        missing = [f for f in REQUIRED if f not in self.functions]
        if missing:
            raise TypeError(f"component {self.name!r} lacks {', '.join(missing)}")

    def has(self, function: str) -> bool:
        return function in self.functions

    def call(self, function: str, *args: Any) -> Any:
        module, _, attr = self.functions[function].partition(":")
        return getattr(import_module(module), attr)(*args)


def available() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group="farga.components")}


def get(name: str) -> Component:
    eps = {ep.name: ep for ep in entry_points(group="farga.components")}
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise UnknownComponentError(f"unknown component {name!r} (known: {known})")
    component = eps[name].load()
    if not isinstance(component, Component):
        raise UnknownComponentError(f"entry point {name!r} does not point at a farga Component")
    return component
