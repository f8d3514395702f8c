"""Reading the feedback store: labelled feedback, its review, the monitor's window, the counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from farga.serving.store_base import NotFoundError, StoreBase
from farga.serving.tables import REVIEWS, Prediction


class FeedbackQueries(StoreBase):
    def get(self, prediction_id: str) -> Prediction | None:
        with Session(self.engine) as session:
            return session.get(Prediction, prediction_id)

    def labelled(
        self, component: str, since: datetime | None = None, review: str | Literal["any"] | None = "any"
    ) -> Iterator[Prediction]:
        """Predictions with a user's label, oldest feedback first; ``review=None``: not screened yet."""
        query = select(Prediction).where(Prediction.component == component, Prediction.feedback_label.is_not(None))
        if since is not None:
            query = query.where(Prediction.feedback_at >= since)
        if review is None:
            query = query.where(Prediction.review.is_(None))
        elif review != "any":
            query = query.where(Prediction.review == review)
        with Session(self.engine) as session:
            yield from session.scalars(query.order_by(Prediction.feedback_at, Prediction.id))

    def set_review(self, component: str, verdicts: dict[str, tuple[str, str]]) -> int:
        """Record ``{prediction id: (review, note)}``; returns how many rows were updated."""
        unknown = {r for r, _ in verdicts.values()} - set(REVIEWS)
        if unknown:
            raise ValueError(f"unknown review {sorted(unknown)}; one of {REVIEWS}")
        now, updated = datetime.now(UTC), 0
        with self.sessions.begin() as session:
            for prediction_id, (review, note) in verdicts.items():
                row = session.get(Prediction, prediction_id)
                if row is None or row.component != component or row.feedback_label is None:
                    raise NotFoundError(f"no {component} feedback for prediction {prediction_id!r}")
                row.review, row.review_note, row.reviewed_at = review, note[:256], now
                updated += 1
        return updated

    def recent_inputs(self, component: str, limit: int) -> list[bytes]:
        """The model inputs of the latest ``limit`` predictions (newest first): the monitor's window."""
        query = (
            select(Prediction.model_input)
            .where(Prediction.component == component, Prediction.model_input.is_not(None))
            .order_by(Prediction.id.desc())  # ids are time-ordered
            .limit(limit)
        )
        with Session(self.engine) as session:
            return [bytes(b) for b in session.scalars(query) if b is not None]

    def count(self, component: str) -> dict[str, int]:
        """Predictions and feedback of a component, counted by the database (no row is loaded)."""
        query = select(func.count(), func.count(Prediction.feedback_label)).where(Prediction.component == component)
        with Session(self.engine) as session:
            predictions, feedback = session.execute(query).one()
        return {"predictions": int(predictions), "feedback": int(feedback)}
