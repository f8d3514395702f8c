"""The promotion rule, as a pure function: which model serves, decided without MLflow.

``tracking.register`` gathers the scores (the candidate's from its evaluation, the champion's
re-scored on the same data) and applies the verdict to the registry's aliases; everything that
decides lives here, where a test can reach every branch with plain numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from farga.facts import Facts
from farga.params import Gate


@dataclass(frozen=True)
class SliceDrop:
    candidate: float
    champion: float
    drop: float


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str
    champion_scores: dict[str, float] = field(default_factory=dict)  # the gate's metrics both models have
    slice_regressions: dict[str, SliceDrop] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What the register stage writes to ``reports/<component>/registry.json`` and the cards read."""

    model: str
    version: str
    metrics: list[str]
    margin: float
    candidate_scores: dict[str, float]
    champion_version: str | None
    promoted: bool
    reason: str
    aliases: dict[str, str]
    champion_scores: dict[str, float] | None = None  # absent when there was no champion to compare with
    slice_regressions: dict[str, SliceDrop] | None = None
    reported_scores: dict[str, dict[str, float]] | None = None  # gate.reported, by model; absent when none

    def to_json(self) -> Facts:
        facts: Facts = asdict(self)
        return {key: value for key, value in facts.items() if value is not None or key == "champion_version"}


def named(scores: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    """The scores called ``name`` or ``name.*`` for one of ``names``."""
    return {k: v for k, v in scores.items() if any(k == n or k.startswith(f"{n}.") for n in names)}


def slice_regressions(
    candidate: Mapping[str, float], champion: Mapping[str, float], slices: Sequence[str], tolerance: float
) -> dict[str, SliceDrop]:
    """Slice metrics (``name`` or ``name.*``) where the candidate is more than ``tolerance`` below the champion."""
    out = {}
    for key, theirs in named(champion, slices).items():
        if key in candidate and theirs - candidate[key] > tolerance:
            out[key] = SliceDrop(candidate[key], theirs, theirs - candidate[key])
    return out


def int8_refusal(candidate: Mapping[str, float], gate: Gate) -> str | None:
    """Why the candidate's int8 file may not serve (None: it may, or it has no float twin to lose to)."""
    bound = gate.int8
    if bound is None or bound.metric not in candidate or bound.float_metric not in candidate:
        return None
    lost = candidate[bound.float_metric] - candidate[bound.metric]
    if lost <= bound.max_loss:
        return None
    return (
        f"its int8 file loses {lost:.4f} of {bound.metric} to its float twin ({candidate[bound.metric]:.4f} vs "
        f"{candidate[bound.float_metric]:.4f}), more than int8.max_loss {bound.max_loss}: "
        "quantise it otherwise or export float"
    )


def decide(
    candidate: Mapping[str, float], champion: Mapping[str, float] | None, champion_version: str | None, gate: Gate
) -> Verdict:
    """Promote only a better model that got no worse anywhere, whose int8 file (if any) costs no more
    than ``int8.max_loss`` against its float twin: it beats the champion by ``margin`` on at
    least one of the gate's metrics, and neither those metrics nor any named slice fall more than
    ``slice_tolerance`` below the champion. A metric either model lacks (no held-out feedback yet, say)
    is left out of the comparison. ``champion`` is None when there is none yet."""
    if (refused := int8_refusal(candidate, gate)) is not None:
        return Verdict(False, refused)
    if champion is None:
        return Verdict(True, "no champion yet")
    compared = [m for m in gate.metrics if m in candidate and m in champion]
    if not compared:
        raise ValueError(f"neither model has any of the gate's metrics {gate.metrics}")
    better = [m for m in compared if candidate[m] >= champion[m] + gate.margin]
    regressed = slice_regressions(candidate, champion, [*compared, *gate.slices], gate.slice_tolerance)
    scores = ", ".join(f"{m} {candidate[m]:.4f} vs {champion[m]:.4f}" for m in compared)
    verb = (
        f"beats champion v{champion_version} on {', '.join(better)}"
        if better
        else f"does not beat champion v{champion_version}"
    )
    reason = f"candidate {verb} by margin {gate.margin} ({scores})"
    if regressed:
        reason += f"; more than {gate.slice_tolerance} below the champion on: {', '.join(sorted(regressed))}"
    return Verdict(bool(better) and not regressed, reason, {m: champion[m] for m in compared}, regressed)
