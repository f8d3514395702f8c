"""What a person decided about the labels users taught, kept for good: the class ids and the audit.

A label outside a component's classes becomes a class only when a person approves it; the approval
gives it the next class id from this table (never reused, never derived from the label, so no two
labels can collide) and stores what it needs (a LaTeX package, say) with it, so later feedback can
never re-vote it away. Refusals are kept too, and every decision is appended to ``review_log``.
A component may also record that a label is another name of a known class (``alias``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast, get_args

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from farga.serving.store import FeedbackStore
from farga.serving.tables import ClassAssignment, ReviewLog

Verdict = Literal["approved", "refused", "alias"]


@dataclass(frozen=True)
class Decision:
    label: str
    verdict: Verdict
    class_id: int | None  # approved: the id it keeps; kept on a later refusal, so never given again
    attributes: dict[str, str | None]  # what the class needs (approved) or names (alias: its class)
    decided_at: datetime
    decided_by: str
    note: str


def _decision(row: ClassAssignment) -> Decision:
    return Decision(
        row.label,
        cast(Verdict, row.decision),
        row.class_id,
        dict(row.attributes or {}),
        row.decided_at,
        row.decided_by,
        row.note,
    )


def decisions(store: FeedbackStore, component: str) -> dict[str, Decision]:
    """Every label's current decision."""
    with Session(store.engine) as session:
        rows = session.scalars(select(ClassAssignment).where(ClassAssignment.component == component)).all()
    return {row.label: _decision(row) for row in rows}


def decide(
    store: FeedbackStore,
    component: str,
    label: str,
    verdict: Verdict,
    *,
    attributes: dict[str, str | None],
    decided_by: str,
    note: str = "",
    first_id: int,
) -> Decision:
    """Record a decision, and append it to the audit log, in one transaction. An approval takes the
    next free id at or above ``first_id`` unless the label already has one."""
    if verdict not in get_args(Verdict):
        raise ValueError(f"unknown decision {verdict!r}; one of {get_args(Verdict)}")
    for _ in range(3):  # two reviewers approving at once: one takes the id, the other the next one
        try:
            with store.sessions.begin() as session:
                return _record(session, component, label, verdict, attributes, decided_by, note[:256], first_id)
        except IntegrityError:
            continue
    raise RuntimeError(f"could not record the decision on {label!r}: the class ids kept clashing")


def _record(
    session: Session,
    component: str,
    label: str,
    verdict: Verdict,
    attributes: dict[str, str | None],
    decided_by: str,
    note: str,
    first_id: int,
) -> Decision:
    now = datetime.now(UTC)
    query = select(ClassAssignment).where(ClassAssignment.component == component, ClassAssignment.label == label)
    row = session.scalars(query).first()
    class_id = row.class_id if row is not None else None
    if verdict == "approved" and class_id is None:
        top = session.scalar(select(func.max(ClassAssignment.class_id)).where(ClassAssignment.component == component))
        class_id = max(first_id, (top or 0) + 1)
    if row is None:
        row = ClassAssignment(component=component, label=label)
        session.add(row)
    row.class_id = class_id
    row.decision, row.attributes, row.decided_at = verdict, attributes, now
    row.decided_by, row.note = decided_by[:64], note
    session.add(
        ReviewLog(at=now, component=component, subject=label, decision=verdict, decided_by=decided_by[:64], note=note)
    )
    session.flush()
    return _decision(row)


def audit(store: FeedbackStore, component: str) -> list[tuple[datetime, str, str, str, str]]:
    """(when, label, decision, who, note), oldest first."""
    query = select(ReviewLog).where(ReviewLog.component == component).order_by(ReviewLog.id)
    with Session(store.engine) as session:
        return [(r.at, r.subject, r.decision, r.decided_by, r.note) for r in session.scalars(query)]
