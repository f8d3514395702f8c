"""The plug-in point: what a component must offer, as protocols mypy checks.

Shared machinery (CLI, pipeline, registry gate, cards, serving) talks only to these protocols, so a
new component is a new folder, one ``farga.components`` entry point, a params section and its DVC
stages (docs/adding-a-component.md). A component is a class whose methods import their module when
called, so that serving code can import a component without pulling in torch or MLflow.

``Component`` is what every component has: the pipeline stages, the re-scoring the registry gate
needs and the cards. The rest are capabilities a component may have; shared code asks with
``isinstance`` and says plainly when one is missing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from farga.errors import FargaError

if TYPE_CHECKING:
    from farga.behaviour import Case
    from farga.cards import Card
    from farga.config import StageContext
    from farga.headline import Example, Headline
    from farga.monitoring.drift import Sample
    from farga.params import ComponentParams
    from farga.serving.app import ComponentService
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore

# What stages report and write: JSON, all the way down (printed by the CLI, kept in reports/).
Json: TypeAlias = str | int | float | bool | list["Json"] | dict[str, "Json"] | None
Facts: TypeAlias = dict[str, Json]


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

    def fetch(self, ctx: StageContext, archive: Path | None) -> Facts: ...

    def prepare(self, ctx: StageContext) -> Facts: ...

    def validate(self, ctx: StageContext) -> Facts: ...

    def train(self, ctx: StageContext) -> Facts: ...

    def evaluate(self, ctx: StageContext) -> Facts: ...

    def score(self, ctx: StageContext, model_dir: Path) -> Facts:
        """Metrics of any exported model on the current test data: the gate re-scores the champion."""
        ...

    def cards(self, ctx: StageContext, facts: Facts) -> dict[str, Card]:
        """``{"model_card": ..., "dataset_card": ...}`` from the run's own figures."""
        ...


@runtime_checkable
class Checks(Protocol):
    def check(self, ctx: StageContext) -> Facts:
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
    def export_feedback(self, ctx: StageContext, store: FeedbackStore, dest: Path, accepted_only: bool) -> Facts:
        """Labelled feedback in the training format (the pipeline's feedback stage)."""
        ...


@runtime_checkable
class ScreensFeedback(Protocol):
    def screen_feedback(self, ctx: StageContext, store: FeedbackStore, model_dir: Path) -> list[Facts]:
        """Accept or quarantine new feedback before it may enter training."""
        ...


@runtime_checkable
class ReviewsClasses(Protocol):
    """Labels outside its classes that users taught wait for a person: listed with what each lacks
    and a contact sheet, approved (given a class id for good) or refused (farga.serving.ledger)."""

    def waiting_classes(self, ctx: StageContext, store: FeedbackStore, sheets: Path) -> list[Facts]: ...

    def approve_class(
        self, ctx: StageContext, store: FeedbackStore, label: str, decided_by: str, note: str, needs: str | None
    ) -> Facts: ...

    def refuse_class(self, ctx: StageContext, store: FeedbackStore, label: str, decided_by: str, why: str) -> Facts: ...


@runtime_checkable
class ValidatesFeedback(Protocol):
    def validate_feedback(self, ctx: StageContext, archive: Path) -> Facts:
        """The contract of exported feedback, before it may enter training."""
        ...


@runtime_checkable
class Drifts(Protocol):
    def drift_samples(self, model_dir: Path, inputs: list[bytes]) -> tuple[Sample, Sample]:
        """(reference, current) features for the drift tests of ``farga ops monitor``."""
        ...


@runtime_checkable
class Behaves(Protocol):
    def behaviour(self, ctx: StageContext, model_path: Path) -> list[Case]:
        """CheckList cases; the thresholds are in its params' ``behaviour.thresholds``."""
        ...


@runtime_checkable
class Tunes(Protocol):
    def trial(self, ctx: StageContext, report: Callable[[int, float], None]) -> float:
        """Train on the prepared data with ``ctx.params`` (a trial's values applied), calling
        ``report(epoch, validation_top1)`` after each epoch (it raises to prune the trial); returns the
        best validation top-1 (``farga tune``)."""
        ...


@runtime_checkable
class GeneratesLoad(Protocol):
    """What a load generator sends it (the fault suite, the soak, the benchmarks: farga.serving.loadgen)."""

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


def lacking(name: str, capability: str) -> UnknownComponentError:
    """The error for a capability a component does not offer (raise what this returns)."""
    return UnknownComponentError(f"{name} has no {capability}")
