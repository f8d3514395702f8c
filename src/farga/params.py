"""What ``params.yaml`` may say, shared by every component: strict models and the gate's rule.

Each component declares its section as a pydantic model built from these parts. Every key is
declared, so a typo or a key nothing reads stops the pipeline at the stage's start, with its path,
instead of silently doing nothing for forty minutes of training.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from farga.errors import FargaError


class ParamsError(FargaError, ValueError):
    """A params section that does not match its model; the message names every offending key."""


class Strict(BaseModel):
    """A params block: unknown keys are errors, values are not changed after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Thresholds(Strict):
    """The share of CheckList cases of each family that must pass (`farga test-model`)."""

    minimum_functionality: float = Field(ge=0, le=1)
    invariance: float = Field(ge=0, le=1)
    directional: float = Field(ge=0, le=1)


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


class ComponentParams(Strict):
    """What every component section has: the active profile, the partial overrides it names, and
    the registry gate every component is promoted by."""

    profile: str = "full"
    """The active profile: full (the section as written) or one named under profiles."""
    profiles: dict[str, dict[str, Any]] = {}
    """Partial copies of the section; each is checked against this model merged over the section."""
    gate: Gate = Field(alias="register")  # `register` itself would shadow BaseModel.register


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
