"""The prediction and feedback store: every prediction logged, every accepted label kept.

SQLite in WAL mode by default (a file beside the service), PostgreSQL by setting one URL
(``FARGA_DATABASE_URL=postgresql+psycopg://...``). The schema is owned by Alembic migrations, run
at start-up. A feedback is committed (and, on SQLite, synced to disk) before the API answers 2xx.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from sqlalchemy import JSON, DateTime, Float, LargeBinary, String, create_engine, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


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


class NotFoundError(LookupError):
    pass


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a prediction log survives a crash of the service, not of the machine; feedback
        # transactions raise it to FULL (synced at commit), see FeedbackStore.add_feedback.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")  # several workers share the file
        cursor.close()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        # a feedback transaction raised this connection to FULL: give it back to the pool at NORMAL
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def migrate(url: str) -> None:
    """Bring the database schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(files("farga.serving").joinpath("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


class FeedbackStore:
    def __init__(self, url: str, *, run_migrations: bool = True):
        self.url = url
        if run_migrations:
            migrate(url)
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def log_prediction(self, **fields: Any) -> Prediction:
        row = Prediction(id=uuid.uuid4().hex, created_at=datetime.now(UTC), **fields)
        with self.sessions.begin() as session:
            session.add(row)
        return row

    def add_feedback(self, component: str, prediction_id: str, label: str) -> Prediction:
        with self.sessions.begin() as session:
            if self.engine.dialect.name == "sqlite":
                session.execute(text("PRAGMA synchronous=FULL"))  # this commit reaches the disk before 2xx
            row = session.get(Prediction, prediction_id)
            if row is None or row.component != component:
                raise NotFoundError(f"no {component} prediction with id {prediction_id!r}")
            row.feedback_label = label
            row.feedback_at = datetime.now(UTC)
        return row

    def get(self, prediction_id: str) -> Prediction | None:
        with Session(self.engine) as session:
            return session.get(Prediction, prediction_id)

    def labelled(self, component: str, since: datetime | None = None) -> Iterator[Prediction]:
        query = select(Prediction).where(Prediction.component == component, Prediction.feedback_label.is_not(None))
        if since is not None:
            query = query.where(Prediction.feedback_at >= since)
        with Session(self.engine) as session:
            yield from session.scalars(query.order_by(Prediction.feedback_at))

    def count(self, component: str) -> dict[str, int]:
        with Session(self.engine) as session:
            rows = session.scalars(select(Prediction).where(Prediction.component == component)).all()
        return {"predictions": len(rows), "feedback": sum(r.feedback_label is not None for r in rows)}
