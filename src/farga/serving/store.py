"""The prediction and feedback store: every prediction logged, every accepted label kept.

SQLite in WAL mode by default (a file beside the service), PostgreSQL by setting one URL
(``FARGA_DATABASE_URL=postgresql+psycopg://...``). The schema is owned by Alembic migrations, run
at start-up. A feedback is committed (and, on SQLite, synced to disk) before the API answers 2xx.

While the service runs, predictions are written by a background writer in batches (one transaction
per batch, not per request: that commit was a third of a request's time). A prediction reaches the
database within tens of milliseconds, on shutdown before the process exits (or, if the database does
not take them by the shutdown deadline, they are dropped and counted); a feedback that arrives first
waits for it. A crash of the process can lose the predictions of that last moment, never a feedback.
A database that is down, locked or full makes writes fail with ``StoreUnavailableError`` (503), and
the writer retries its batch until the database is back.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from farga.serving.queries import FeedbackQueries
from farga.serving.retention import Pruned, Retention
from farga.serving.store_base import TRANSIENT, NotFoundError, StoreBusyError, StoreUnavailableError, log
from farga.serving.tables import REVIEWS, Base, Prediction

__all__ = [
    "REVIEWS",
    "Base",
    "FeedbackStore",
    "NotFoundError",
    "Prediction",
    "PredictionRecord",
    "Pruned",
    "StoreBusyError",
    "StoreUnavailableError",
]


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


@dataclass(frozen=True)
class PredictionRecord:
    """What a served prediction leaves in the log: the model that made it, what it was sent (unless
    FARGA_KEEP_INPUTS=false), what the model saw, and its answer."""

    component: str
    model_name: str
    model_version: str
    model_run_id: str | None
    input_kind: str
    input_json: object | None  # the request's JSON input (strokes, a text)
    input_blob: bytes | None  # an uploaded file
    model_input: bytes | None  # what the model saw (e.g. a 32x32 ink map): drift and retraining read it
    candidates: list[Any]
    top1: str
    top1_score: float


class FeedbackStore(Retention, FeedbackQueries):
    """``start_writer()`` moves prediction logging to a background thread (the service does);
    without it every prediction is written before ``log_prediction`` returns (CLI, tests).

    Bounded by construction: the writer's queue holds at most ``max_pending`` rows and
    ``max_pending_bytes`` of inputs; past either, a prediction is refused (503) rather than held."""

    def __init__(
        self,
        url: str,
        *,
        run_migrations: bool = True,
        batch_window_s: float = 0.1,
        max_pending: int = 10_000,
        max_pending_bytes: int = 64 << 20,
        feedback_wait_s: float = 1.0,
        keep_inputs: bool = True,
    ):
        self.url = url
        if run_migrations:
            migrate(url)
        postgres = url.startswith("postgresql")
        self.engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=5,
            # a server that does not answer fails a request in seconds, not at the kernel's TCP timeout
            connect_args={"connect_timeout": 3} if postgres else {},
        )
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Each write of the log is a transaction whose fixed cost (a connection check, the commit, the
        # pages it rewrites) was most of a row's cost at 20 ms: a tenth of a second puts tens of rows
        # in one under load, and cut the writer's CPU per prediction to a third. What a kill -9 can
        # take from the log is at most that window (feedback is written, and synced, before it is answered).
        self.batch_window_s = batch_window_s
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        # how long a feedback waits for its prediction to be written by another worker
        self.feedback_wait_s = feedback_wait_s
        # False: a prediction keeps what was predicted, not what the user sent (no drawing, no text);
        # the feedback then cannot become training data, and drift monitoring has no inputs to read
        self.keep_inputs = keep_inputs
        # Requests append here without a wake-up; the writer looks every batch window. Ids still in
        # memory are in _pending_ids, so a feedback for one waits for it instead of a 404.
        self._pending: deque[tuple[dict[str, Any], int]] = deque()  # (row, the bytes it holds)
        self._pending_ids: set[str] = set()
        self._pending_bytes = 0
        self._lock = threading.Lock()  # the queue, its ids and its size change together
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._writer: threading.Thread | None = None
        self.dropped = 0  # predictions given up on at shutdown (the database did not take them in time)
        self.last_write_error: str | None = None  # None while the latest write went through

    def start_writer(self) -> None:
        if self._writer is None:
            self._stop.clear()
            self._abandon.clear()
            self._writer = threading.Thread(target=self._write_batches, name="farga-prediction-log", daemon=True)
            self._writer.start()

    def close(self, deadline_s: float = 10.0) -> int:
        """Write every pending prediction, giving up after ``deadline_s`` (the database is not taking
        them); returns how many were dropped, and logs it."""
        if self._writer is not None:
            self._stop.set()
            self._writer.join(deadline_s)
            if self._writer.is_alive():
                self._abandon.set()
                self._writer.join()
            self._writer = None
        if self.dropped:
            log.error("shutdown dropped %d logged predictions: the database did not take them in time", self.dropped)
        return self.dropped

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with self.sessions.begin() as session:
            session.execute(insert(Prediction), rows)

    def _write_batches(self) -> None:
        while True:
            stopping = self._stop.wait(self.batch_window_s)
            while True:
                with self._lock:
                    if not self._pending:
                        break
                    batch = [self._pending.popleft() for _ in range(min(500, len(self._pending)))]
                if not self._write_until_taken(batch):
                    with self._lock:  # shutdown ran out of time: what is left is dropped, and counted
                        self.dropped += len(batch) + len(self._pending)
                        self._pending.clear()
                        self._pending_ids.clear()
                        self._pending_bytes = 0
                    return
            if stopping:
                return

    def _write_until_taken(self, batch: list[tuple[dict[str, Any], int]]) -> bool:
        """Retry a batch until the database takes it (True) or shutdown abandons it (False)."""
        rows, delay = [row for row, _ in batch], 0.1
        while True:
            try:
                self._insert(rows)
            except Exception as exc:
                self.last_write_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                log.warning("writing %d predictions failed; retrying in %.1fs: %s", len(rows), delay, exc)
                if self._abandon.wait(delay):
                    return False
                delay = min(delay * 2, 1.0)  # back within a second of the database's return
                continue
            self.last_write_error = None
            with self._lock:
                for row, size in batch:
                    self._pending_ids.discard(row["id"])
                    self._pending_bytes -= size
            return True

    def log_prediction(self, record: PredictionRecord) -> str:
        """Log one prediction; returns its id."""
        if not self.keep_inputs:
            record = replace(record, input_json=None, input_blob=None, model_input=None)
        fields = {f.name: getattr(record, f.name) for f in dataclass_fields(record)}
        row = {"id": new_prediction_id(), "created_at": datetime.now(UTC), **fields}
        if self._writer is None:
            self._insert([row])
            return str(row["id"])
        size = _input_bytes(row)
        with self._lock:
            if len(self._pending) >= self.max_pending or self._pending_bytes + size > self.max_pending_bytes:
                raise StoreBusyError("the prediction log is backed up; try again shortly")
            self._pending.append((row, size))
            self._pending_ids.add(row["id"])
            self._pending_bytes += size
        return str(row["id"])

    async def add_feedback(
        self,
        component: str,
        prediction_id: str,
        label: str,
        check: Callable[[Prediction], None] | None = None,
        *,
        package: str | None = None,
        client: str | None = None,
    ) -> Prediction:
        """Store the user's label, committed (and on SQLite synced) before this returns;
        ``check(row)`` may refuse it (by raising) given what was predicted.

        Async: waiting for a prediction still on its way (in this worker's queue, or another
        worker's) holds no thread, so ids forged to look recent cannot tie up the request pool."""
        deadline = time.monotonic() + self.feedback_wait_s
        while prediction_id in self._pending_ids:  # logged here, not written yet
            if time.monotonic() > deadline:
                raise StoreUnavailableError("the prediction is not written yet (the database is slow); try again")
            await asyncio.sleep(0.01)
        while True:
            row = await asyncio.to_thread(self._label, component, prediction_id, (label, package, client), check)
            if row is not None:
                return row
            recent = created_recently(prediction_id, self.feedback_wait_s)
            if not recent or time.monotonic() > deadline:
                raise NotFoundError(f"no {component} prediction with id {prediction_id!r}")
            await asyncio.sleep(0.05)  # another worker may not have written it yet

    def _label(
        self,
        component: str,
        prediction_id: str,
        label: tuple[str, str | None, str | None],
        check: Callable[[Prediction], None] | None,
    ) -> Prediction | None:
        try:
            with self.sessions.begin() as session:
                if self.engine.dialect.name == "sqlite":
                    session.execute(text("PRAGMA synchronous=FULL"))  # this commit reaches the disk before 2xx
                row = session.get(Prediction, prediction_id)
                if row is None or row.component != component:
                    return None
                if check is not None:
                    check(row)  # raising leaves the transaction, and the row, as they were
                row.feedback_label, row.feedback_package, row.feedback_client = label
                row.feedback_at = datetime.now(UTC)
                row.review = row.review_note = row.reviewed_at = None  # a new label is screened anew
                return row
        except TRANSIENT as exc:
            log.warning("a feedback could not be stored: %s", exc)
            raise StoreUnavailableError("the feedback database is not taking writes; try again shortly") from None

    def probe(self) -> str | None:
        """None while the database answers and takes writes; else what is wrong, in one line."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return f"the database does not answer ({type(exc).__name__})"
        if self.last_write_error is not None:
            return f"the database refuses writes ({self.last_write_error.split(':')[0]})"
        if self._pending and len(self._pending) >= self.max_pending // 2:
            return f"the prediction log is backed up ({len(self._pending)} rows waiting)"
        return None


def _input_bytes(row: dict[str, Any]) -> int:
    """What a queued row holds in memory, roughly: its blobs and its JSON input's text."""
    size = 512 + len(row.get("input_blob") or b"") + len(row.get("model_input") or b"")
    if row.get("input_json") is not None:
        size += len(json.dumps(row["input_json"]))
    return size
