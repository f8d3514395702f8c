"""The feedback store past its retention period, and the key its pseudonyms are made with.

After ``retention_days`` (``farga ops prune``) a prediction without feedback goes, and feedback
forgets who sent it; the pseudonym key is drawn once per store and kept in it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from farga.serving.store_base import TRANSIENT, StoreBase, StoreUnavailableError, log
from farga.serving.tables import DeploymentSecret, Prediction

PSEUDONYM_KEY = "client-pseudonym"
ANONYMOUS = "~"  # a pseudonym replaced at the retention period: "~" + 12 random hex digits


class Pruned(NamedTuple):
    deleted_predictions: int
    anonymised_feedback: int


class Retention(StoreBase):
    def client_secret(self) -> str:
        """The key pseudonyms are made with when the settings name none: drawn on first use, kept in the
        store (several workers starting at once agree on the first one written)."""
        try:
            with Session(self.engine) as session:
                row = session.get(DeploymentSecret, PSEUDONYM_KEY)
                if row is not None:
                    return row.value
            try:
                with self.sessions.begin() as session:
                    drawn = DeploymentSecret(
                        name=PSEUDONYM_KEY, value=secrets.token_hex(32), created_at=datetime.now(UTC)
                    )
                    session.add(drawn)
            except IntegrityError:
                pass  # another worker drew it first: theirs is the one
            with Session(self.engine) as session:
                kept = session.get(DeploymentSecret, PSEUDONYM_KEY)
                assert kept is not None
                return kept.value
        except TRANSIENT as exc:
            log.warning("the pseudonym key could not be read: %s", exc)
            raise StoreUnavailableError("the feedback database is not taking writes; try again shortly") from None

    def prune(self, older_than_days: float) -> Pruned:
        """Past the retention: predictions without feedback are deleted (feedback is training data and
        stays), and feedback forgets who sent it. Each client's rows of one label become one anonymous
        group, so admission still counts distinct senders and caps each one's share, knowing no one."""
        cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
        query = delete(Prediction).where(Prediction.created_at < cutoff, Prediction.feedback_label.is_(None))
        old_feedback = select(Prediction).where(
            Prediction.feedback_at < cutoff,
            Prediction.feedback_client.is_not(None),
            Prediction.feedback_client.not_like(f"{ANONYMOUS}%"),
        )
        with self.sessions.begin() as session:
            deleted = int(session.execute(query).rowcount)  # type: ignore[attr-defined]
            groups: dict[tuple[str | None, str], str] = {}
            rows = session.scalars(old_feedback).all()
            for row in rows:
                group = (row.feedback_label, str(row.feedback_client))
                row.feedback_client = groups.setdefault(group, ANONYMOUS + secrets.token_hex(6))
        return Pruned(deleted, len(rows))
