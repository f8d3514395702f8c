"""The plug-in point: what a component must offer, as protocols mypy checks.

Shared machinery (CLI, pipeline, tuning, monitoring, the app) talks only to these protocols, so a new
component is a new folder, one ``farga.components`` entry point, a params section and its DVC stages
(docs/adding-a-component.md). This module sits below everything that calls a component and above
what components run on (the store, the model slot, tracking): import-linter keeps it there
(docs/pipeline.md#layout). A component is a class whose methods import their module when
called, so that serving code can import a component without pulling in torch or MLflow.

``Component`` is what every component has: the pipeline stages, the re-scoring the registry gate
needs and the cards. The rest are capabilities a component may have; shared code asks with
``isinstance`` and says plainly when one is missing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from farga.config import Settings, StageContext
from farga.errors import FargaError
from farga.facts import Facts as Facts
from farga.facts import Json as Json
from farga.params import ComponentParams

if TYPE_CHECKING:
    # Type-only, and all below this module (import-linter counts them): whoever imports the contract
    # (the serving image, the pipeline) loads none of Jinja, pandas, FastAPI or SQLAlchemy for it.
    from fastapi import APIRouter

    from farga.cards import Card
    from farga.checklist import Case
    from farga.drift import Sample
    from farga.headline import Example, Headline
    from farga.serving.models import ModelSlot
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore

Ctx = StageContext[Any]
"""A stage's context as shared code sees it: each component types its own (``StageContext[ItsParams]``)."""


@dataclass
class ComponentService:
    """What a component serves: its routes (on ``component_router``), the slot that holds its champion,
    and its static files for the page."""

    name: str
    summary: str
    router: APIRouter
    slot: ModelSlot
    static: Path | None = None


def component_router(name: str) -> APIRouter:
    """The router a component's routes go on: under /v1/<name>, bodies read by the shared guard."""
    from fastapi import APIRouter

    from farga.serving.errors import GuardedRoute

    return APIRouter(prefix=f"/v1/{name}", tags=[name], route_class=GuardedRoute)


@runtime_checkable
class Component(Protocol):
    """A component's lifecycle: every stage of ``dvc.yaml``, the gate's re-scoring, the cards."""

    @property
    def name(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def params(self) -> type[ComponentParams]:
        """The model of its params.yaml section: an unknown or mistyped key stops every stage."""
        ...

    def fetch(self, ctx: Ctx, archive: Path | None) -> Facts: ...

    def prepare(self, ctx: Ctx) -> Facts: ...

    def validate(self, ctx: Ctx) -> Facts: ...

    def train(self, ctx: Ctx) -> Facts: ...

    def evaluate(self, ctx: Ctx) -> Facts: ...

    def score(self, ctx: Ctx, model_dir: Path) -> Facts:
        """Metrics of any exported model on the current test data: the gate re-scores the champion."""
        ...

    def cards(self, ctx: Ctx, facts: Facts) -> dict[str, Card]:
        """``{"model_card": ..., "dataset_card": ...}`` from the run's own figures."""
        ...


@runtime_checkable
class TrainsInParts(Protocol):
    """A model made of several networks, each trained by its own run of the train stage (one DVC
    ``foreach`` stage, each within the stage budget), then joined by ``train`` into the served one."""

    def parts(self, ctx: Ctx) -> list[str]: ...

    def train_part(self, ctx: Ctx, part: str) -> Facts: ...


@runtime_checkable
class Checks(Protocol):
    def check(self, ctx: Ctx) -> Facts:
        """Can the data be obtained? A preflight before a long pipeline."""
        ...


@runtime_checkable
class Serves(Protocol):
    @property
    def page_order(self) -> int:
        """Where its tab sits on the page, and its results in the README: lower first."""
        ...

    def service(self, settings: ServeSettings, store: FeedbackStore) -> ComponentService:
        """Its API routes and the slot that holds its champion."""
        ...


@runtime_checkable
class ExportsFeedback(Protocol):
    def export_feedback(self, ctx: Ctx, store: FeedbackStore, dest: Path, accepted_only: bool) -> Facts:
        """Labelled feedback in the training format (the pipeline's feedback stage)."""
        ...


@runtime_checkable
class ScreensFeedback(Protocol):
    def screen_feedback(self, ctx: Ctx, store: FeedbackStore, model_dir: Path) -> list[Facts]:
        """Accept or quarantine new feedback before it may enter training."""
        ...


@runtime_checkable
class ReviewsClasses(Protocol):
    """Labels outside its classes that users taught wait for a person: listed with what each lacks
    and a contact sheet, approved (given a class id for good) or refused (farga.serving.ledger)."""

    def waiting_classes(self, ctx: Ctx, store: FeedbackStore, sheets: Path) -> list[Facts]: ...

    def approve_class(
        self, ctx: Ctx, store: FeedbackStore, label: str, decided_by: str, note: str, needs: str | None
    ) -> Facts: ...

    def refuse_class(self, ctx: Ctx, store: FeedbackStore, label: str, decided_by: str, why: str) -> Facts: ...


@runtime_checkable
class ValidatesFeedback(Protocol):
    def validate_feedback(self, ctx: Ctx, archive: Path) -> Facts:
        """The contract of exported feedback, before it may enter training."""
        ...


@runtime_checkable
class Drifts(Protocol):
    def drift_samples(self, model_dir: Path, inputs: list[bytes]) -> tuple[Sample, Sample]:
        """(reference, current) features for the drift tests of ``farga ops monitor``."""
        ...


@runtime_checkable
class Behaves(Protocol):
    def behaviour(self, ctx: Ctx, model_path: Path) -> list[Case]:
        """CheckList cases (farga.checklist) for the model at ``model_path``."""
        ...


@runtime_checkable
class Tunes(Protocol):
    def trial(self, ctx: Ctx, report: Callable[[int, float], None]) -> float:
        """Train on the prepared data with ``ctx.config`` (a trial's values applied), calling
        ``report(epoch, validation_top1)`` after each epoch (it raises to prune the trial); returns the
        best validation top-1 (``farga tune``)."""
        ...


@runtime_checkable
class GeneratesLoad(Protocol):
    """What a load generator sends it (the fault suite, the soak, the benchmarks: farga.loadgen)."""

    def load_request(self, rng: random.Random) -> Facts:
        """A body for ``POST /v1/<name>/predict``, as JSON."""
        ...

    def load_feedback(self, answer: Facts) -> tuple[Facts, str]:
        """A feedback body for a prediction's answer, and the label as the store keeps it."""
        ...


@runtime_checkable
class Benches(Protocol):
    def bench(self, root: Path, seconds: int, workers: int) -> str:
        """The serving benchmark as markdown (``farga bench <name>``)."""
        ...


@dataclass(frozen=True)
class ScaleRun:
    """How `farga dev bench-scale` names what it trained, its rate's unit, its score and what it serves."""

    what: str
    unit: str
    score: str
    request: str  # what its load request (GeneratesLoad) sends


@runtime_checkable
class ScalesOut(Protocol):
    """`farga dev bench-scale <name>`: training with one process and with one per core, on generated data."""

    @property
    def scale_run(self) -> ScaleRun: ...

    def scale_params(self, section: Facts, epochs: int, threads: int) -> Facts:
        """Its params.yaml section as a scaling run on generated data trains it."""
        ...

    def training_rate(self, root: Path) -> tuple[float, float]:
        """(items trained per second, best validation score), read from a finished run in ``root``."""
        ...


@runtime_checkable
class Reports(Protocol):
    def headline(self, reports: Path) -> Headline:
        """Its headline figures and the anchor they beat, read from its reports (``farga dev report``)."""
        ...

    def example(self) -> Example:
        """The request the README shows, sent to a running service for its answer."""
        ...


class UnknownComponentError(FargaError, LookupError):
    pass


def available() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group="farga.components")}


def in_page_order() -> list[str]:
    """The installed components, those with a page in their own order first, then by name."""

    def key(name: str) -> tuple[int, str]:
        component = get(name)
        return (component.page_order if isinstance(component, Serves) else 1_000_000, name)

    return sorted(available(), key=key)


def get(name: str) -> Component:
    eps = {ep.name: ep for ep in entry_points(group="farga.components")}
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise UnknownComponentError(f"unknown component {name!r} (known: {known})")
    component = eps[name].load()
    if not isinstance(component, Component):
        raise UnknownComponentError(f"entry point {name!r} does not point at a farga Component")
    return component


def context(name: str, settings: Settings | None = None) -> Ctx:
    """The context of ``name``'s stages, its params checked against its own model (every profile too)."""
    return StageContext.load(name, get(name).params, settings)


def lacking(name: str, capability: str) -> UnknownComponentError:
    """The error for a capability a component does not offer (raise what this returns)."""
    return UnknownComponentError(f"{name} has no {capability}")
