"""What ``params.yaml`` may say, shared by every component: strict models and the gate's rule.

Each component declares its section as a pydantic model built from these parts. Every key is
declared, so a typo or a key nothing reads stops the pipeline at the stage's start, with its path,
instead of silently doing nothing for forty minutes of training.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from farga.errors import FargaError
from farga.facts import Facts


class ParamsError(FargaError, ValueError):
    """A params section that does not match its model; the message names every offending key."""


class Strict(BaseModel):
    """A params block: unknown keys are errors, values are not changed after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    def as_written(self) -> Facts:
        """The block as params.yaml wrote it (defaults it did not write stay out): what a run logs."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Thresholds(Strict):
    """The share of CheckList cases of each family that must pass (`farga test-model`)."""

    minimum_functionality: float = Field(ge=0, le=1)
    invariance: float = Field(ge=0, le=1)
    directional: float = Field(ge=0, le=1)


class Int8Bound(Strict):
    """How much an int8 file may lose to the float graph it was quantised from, both scored on the
    machine that evaluates (int8 kernels differ between CPUs)."""

    metric: str
    """The served (int8) file's score."""
    float_metric: str
    """The same score of its float twin."""
    max_loss: float = Field(ge=0)
    """A candidate whose int8 file loses more than this is refused, champion or not."""


class Gate(Strict):
    """The registry gate: a candidate beats the champion by ``margin`` on one of ``metrics`` and
    falls no more than ``slice_tolerance`` behind it on those or on any slice named in ``slices``."""

    metrics: list[str] = Field(min_length=1)
    """A candidate must beat the champion on one of these (re-scored on the same data)."""
    margin: float = Field(ge=0)
    """... by at least this much."""
    slices: list[str] = []
    """Metric groups (and their sub-keys) on which it may not fall behind the champion either."""
    slice_tolerance: float = Field(default=0.0, ge=0)
    """How far behind on a slice still counts as no regression."""
    reported: list[str] = []
    """Scores (and their sub-keys) shown for both models beside the decision, never deciding it."""
    int8: Int8Bound | None = None
    """For a component that serves int8: what quantisation may cost."""


class Dimension(Strict):
    """One searched key of `farga tune`: a range (``low``/``high``, ``log`` for rates and sizes,
    ``integer`` for counts) or a list of ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[float | int | str | bool] | None = None

    @model_validator(mode="after")
    def range_or_choices(self) -> Dimension:
        ranged = self.low is not None and self.high is not None
        if ranged == (self.choices is not None):
            raise ValueError("give either low and high, or choices")
        if ranged and not (self.low < self.high and (self.low > 0 or not self.log)):  # type: ignore[operator]
            raise ValueError("needs low < high (and low > 0 on a log scale)")
        return self


class Tune(Strict):
    """`farga tune <component>`: the search space and how hard to look (docs/scale.md)."""

    trials: int = Field(ge=1)
    """Trials in the study, over all the workers that share it."""
    pruner: Literal["median", "none"]
    """median: a trial scoring below the median of earlier trials at the same epoch stops there."""
    startup_trials: int = Field(ge=0)
    """Trials that finish before any is pruned."""
    warmup_epochs: int = Field(ge=0)
    """Epochs every trial has before it may be pruned."""
    space: dict[str, Dimension] = Field(min_length=1)
    """Dotted keys of the component's section (``train.lr``), each with its range or choices."""


class Monitor(Strict):
    """`farga ops monitor`: how many of the latest predictions are judged, and how drift is tested."""

    window: int = Field(ge=1)
    """The latest predictions judged by `farga ops monitor`."""
    min_samples: int = Field(ge=1)
    """Fewer are reported, not judged."""
    alpha: float = Field(gt=0, lt=1)
    """Significance of each drift test."""
    distance: float = Field(ge=0)
    """Minimum effect: Wasserstein in reference sd; Jensen-Shannon for the class mix."""
    auc: float = Field(ge=0.5, le=1)
    """Embedding drift: a classifier tells reference from current with this ROC AUC."""
    share: float = Field(ge=0, le=1)
    """Input drift: this share of the six input features drifted."""


class HasThresholds(Protocol):
    @property
    def thresholds(self) -> Thresholds: ...


@runtime_checkable
class BehaviourTested(Protocol):
    """A section with a ``behaviour`` block: `farga test-model` holds each family to its threshold."""

    @property
    def behaviour(self) -> HasThresholds: ...


@runtime_checkable
class Monitored(Protocol):
    """A section with a ``monitor`` block: `farga ops monitor` watches the component's drift."""

    @property
    def monitor(self) -> Monitor: ...


class ComponentParams(Strict):
    """What every component section has: the active profile, the partial overrides it names, and
    the registry gate every component is promoted by."""

    profile: str = "full"
    """The active profile: full (the section as written) or one named under profiles."""
    profiles: dict[str, dict[str, Any]] = {}
    """Partial copies of the section; each is checked against this model merged over the section."""
    gate: Gate = Field(alias="register")  # `register` itself would shadow BaseModel.register
    tune: Tune | None = None
    """The hyperparameter search of `farga tune`; no stage reads it, so changing it reruns nothing."""


def describe(error: ValidationError, section: str) -> str:
    """One line per problem, each with the dotted path a user finds in params.yaml."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in (section, *item["loc"]))
        what = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"{path}: {what}")
    return "; ".join(lines)


P = TypeVar("P", bound="ComponentParams")


def validated(model: type[P], section: dict[str, Any], name: str) -> P:
    """The section as ``model``; raises ParamsError naming each wrong key (profiles included)."""
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        raise ParamsError(f"params.yaml does not match {model.__name__}: {describe(exc, name)}") from exc
