"""The store's tables (SQLAlchemy models; Alembic migrations own the schema, env.py reads it from here).

``predictions`` is the log and the feedback; the three small tables beside it hold what must outlive
any one export or model: the deployment's secret (what pseudonyms are keyed with), the classes a
person admitted from users' labels with the ids they were given, and the audit trail of those decisions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Prediction(Base):
    __tablename__ = "predictions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    component: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    model_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    input_kind: Mapped[str] = mapped_column(String(16))
    input_json: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    input_blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    model_input: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    candidates: Mapped[Any] = mapped_column(JSON)
    top1: Mapped[str] = mapped_column(String(128))
    top1_score: Mapped[float] = mapped_column(Float)
    feedback_label: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # a label outside the catalogue names its LaTeX package; the client (an HMAC of its identity under
    # the deployment's secret, never the address) lets distinct people be counted and capped; after the
    # retention period it is replaced by an anonymous group (farga.serving.store.FeedbackStore.prune)
    feedback_package: Mapped[str | None] = mapped_column(String(40), nullable=True)
    feedback_client: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # None until screened; then accepted | quarantined (waits for a person) | rejected
    review: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    review_note: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


REVIEWS = ("accepted", "quarantined", "rejected")


class DeploymentSecret(Base):
    """Drawn once, on the first start against a store, and kept with it: a pseudonym is an HMAC of the
    client under it, so a copy of the store without this row (or the settings' salt) names no one."""

    __tablename__ = "deployment_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


DECISIONS = ("approved", "refused")


class ClassAssignment(Base):
    """A label users taught, as a person decided it: approved (with the class id it keeps for good and
    what it needs, e.g. its LaTeX package) or refused. Rows are never deleted, so an id is never reused."""

    __tablename__ = "class_assignments"
    __table_args__ = (
        UniqueConstraint("component", "label", name="uq_class_assignments_label"),
        UniqueConstraint("component", "class_id", name="uq_class_assignments_class_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    component: Mapped[str] = mapped_column(String(32), index=True)
    label: Mapped[str] = mapped_column(String(128))
    class_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decision: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[Any] = mapped_column(JSON)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256))


class ReviewLog(Base):
    """Every decision a person made about what the model may learn, in order (append only)."""

    __tablename__ = "review_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    component: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256))
