"""The prediction and feedback store: every prediction logged, every accepted label kept.

SQLite in WAL mode by default (a file beside the service), PostgreSQL by setting one URL
(``FARGA_DATABASE_URL=postgresql+psycopg://...``). The schema is owned by Alembic migrations, run
at start-up. A feedback is committed (and, on SQLite, synced to disk) before the API answers 2xx.

While the service runs, predictions are written by a background writer in batches (one transaction
per batch, not per request: that commit was a third of a request's time). A prediction reaches the
database within tens of milliseconds, on shutdown before the process exits; a feedback that arrives
first waits for it. A crash of the process can lose the predictions of that last moment, never a feedback.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, Literal

from sqlalchemy import JSON, DateTime, Float, LargeBinary, String, create_engine, event, insert, select, text
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
    # None until screened; then accepted | quarantined (waits for a person) | rejected
    review: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    review_note: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


REVIEWS = ("accepted", "quarantined", "rejected")


class NotFoundError(LookupError):
    pass


class StoreBusyError(RuntimeError):
    """The prediction log cannot keep up (the database is down or too slow): the service answers 503."""


log = logging.getLogger("farga.serving")


def new_prediction_id() -> str:
    """32 hex digits: the creation time in milliseconds, then 80 random bits (time-ordered, like UUIDv7)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def created_recently(prediction_id: str, within_s: float) -> bool:
    """Whether an id was minted in the last ``within_s`` seconds (its prediction may still be on its way)."""
    try:
        created = int(prediction_id[:12], 16) / 1000
    except ValueError:
        return False
    return time.time() - within_s <= created <= time.time() + 1.0


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


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(files("farga.serving").joinpath("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the database schema to the newest Alembic revision."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


class FeedbackStore:
    """``start_writer()`` moves prediction logging to a background thread (the service does);
    without it every prediction is written before ``log_prediction`` returns (CLI, tests)."""

    def __init__(
        self,
        url: str,
        *,
        run_migrations: bool = True,
        batch_window_s: float = 0.02,
        max_pending: int = 10_000,
        feedback_wait_s: float = 2.0,
    ):
        self.url = url
        if run_migrations:
            migrate(url)
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.batch_window_s = batch_window_s
        self.max_pending = max_pending
        # how long a feedback waits for its prediction to be written (by this worker or another)
        self.feedback_wait_s = feedback_wait_s
        # Requests append here without a lock or a wake-up (a deque append is atomic); the writer
        # looks every batch window. Only flush() waits on the condition, and it is rare (feedback).
        self._pending: deque[dict[str, Any]] = deque()
        self._writing = False
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None

    def start_writer(self) -> None:
        if self._writer is None:
            self._stop.clear()
            self._writer = threading.Thread(target=self._write_batches, name="farga-prediction-log", daemon=True)
            self._writer.start()

    def close(self) -> None:
        """Write every pending prediction, then stop the writer."""
        if self._writer is not None:
            self._stop.set()
            self._writer.join()
            self._writer = None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every prediction logged so far is in the database; False if ``timeout`` ran out
        first (the database is not taking writes)."""
        if self._writer is None:
            return True
        with self._progress:
            return self._progress.wait_for(lambda: not self._pending and not self._writing, timeout)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.sessions.begin() as session:
            session.execute(insert(Prediction), rows)

    def _write_batches(self) -> None:
        while True:
            stopping = self._stop.wait(self.batch_window_s)
            while True:
                with self._progress:
                    if not self._pending:
                        self._writing = False
                        self._progress.notify_all()
                        break
                    self._writing = True
                    rows = [self._pending.popleft() for _ in range(min(500, len(self._pending)))]
                delay = 0.1
                while True:  # a row is only given up on by the process ending
                    try:
                        self._insert(rows)
                        break
                    except Exception:
                        log.exception("writing %d predictions failed; retrying in %.1fs", len(rows), delay)
                        time.sleep(delay)
                        delay = min(delay * 2, 5.0)
            if stopping:
                return

    def log_prediction(self, **fields: Any) -> str:
        """Log one prediction; returns its id."""
        row = {"id": new_prediction_id(), "created_at": datetime.now(UTC), **fields}
        if self._writer is None:
            self._insert([row])
        elif len(self._pending) >= self.max_pending:
            raise StoreBusyError("the prediction log is backed up; try again shortly")
        else:
            self._pending.append(row)
        return str(row["id"])

    def add_feedback(
        self, component: str, prediction_id: str, label: str, check: Callable[[Prediction], None] | None = None
    ) -> Prediction:
        """Store the user's label; ``check(row)`` may refuse it (by raising) given what was predicted."""
        deadline = time.monotonic() + self.feedback_wait_s
        self.flush(timeout=self.feedback_wait_s)
        while True:
            with self.sessions.begin() as session:
                if self.engine.dialect.name == "sqlite":
                    session.execute(text("PRAGMA synchronous=FULL"))  # this commit reaches the disk before 2xx
                row = session.get(Prediction, prediction_id)
                if row is not None and row.component == component:
                    if check is not None:
                        check(row)  # raising leaves the transaction, and the row, as they were
                    row.feedback_label = label
                    row.feedback_at = datetime.now(UTC)
                    row.review = row.review_note = row.reviewed_at = None  # a new label is screened anew
                    return row
            waiting = row is None and created_recently(prediction_id, self.feedback_wait_s)
            if not waiting or time.monotonic() > deadline:
                raise NotFoundError(f"no {component} prediction with id {prediction_id!r}")
            time.sleep(0.02)  # another worker may not have written it yet

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
        with Session(self.engine) as session:
            rows = session.scalars(select(Prediction).where(Prediction.component == component)).all()
        return {"predictions": len(rows), "feedback": sum(r.feedback_label is not None for r in rows)}
