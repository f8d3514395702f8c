"""The feedback store on SQLite (the default) and on PostgreSQL (one URL away)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from farga.serving.store import FeedbackStore, NotFoundError, PredictionRecord
from support import postgres_database

pytestmark = pytest.mark.code


def log_one(store: FeedbackStore, component: str = "symbols"):
    return store.log_prediction(
        PredictionRecord(
            component=component,
            model_name="symbols",
            model_version="3",
            model_run_id="r",
            input_kind="strokes",
            input_json=[[{"x": 1.0, "y": 2.0}]],
            input_blob=None,
            model_input=b"\x00" * 1024,
            candidates=[{"latex": "A"}, {"latex": "B"}],
            top1="A",
            top1_score=0.7,
        )
    )


def exercise(store: FeedbackStore) -> None:
    row = log_one(store)
    other = log_one(store, component="fillmask")
    assert store.count("symbols") == {"predictions": 1, "feedback": 0}
    asyncio.run(store.add_feedback("symbols", row, "B"))
    assert [r.feedback_label for r in store.labelled("symbols")] == ["B"]
    with pytest.raises(NotFoundError):
        asyncio.run(store.add_feedback("symbols", "f" * 32, "B"))
    with pytest.raises(NotFoundError):  # ids are per component
        asyncio.run(store.add_feedback("symbols", other, "B"))
    fetched = store.get(row)
    assert fetched is not None
    assert fetched.input_json == [[{"x": 1.0, "y": 2.0}]]
    assert fetched.model_input == b"\x00" * 1024
    assert store.recent_inputs("symbols", 10) == [b"\x00" * 1024]
    # review: screened feedback leaves the queue; a new label from the user is screened anew
    assert [r.id for r in store.labelled("symbols", review=None)] == [row]
    store.set_review("symbols", {row: ("quarantined", "the model and its neighbours disagree")})
    assert [r.review_note for r in store.labelled("symbols", review="quarantined")] == [
        "the model and its neighbours disagree"
    ]
    assert list(store.labelled("symbols", review=None)) == []
    with pytest.raises(ValueError, match="unknown review"):
        store.set_review("symbols", {row: ("maybe", "")})
    with pytest.raises(NotFoundError):
        store.set_review("symbols", {other: ("accepted", "")})  # no feedback there
    asyncio.run(store.add_feedback("symbols", row, "A"))
    assert [r.id for r in store.labelled("symbols", review=None)] == [row]


def test_sqlite_store_uses_wal_and_keeps_feedback(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    exercise(FeedbackStore(url))
    with sqlite3.connect(tmp_path / "feedback.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0004"
    reopened = FeedbackStore(url)  # migrations are idempotent; data survives a restart
    assert reopened.count("symbols") == {"predictions": 1, "feedback": 1}


def test_upgrading_a_store_of_the_first_schema_keeps_its_feedback(tmp_path: Path):
    from alembic import command

    from farga.serving import store as store_module

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = store_module.alembic_config(url)
    command.upgrade(config, "0001")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute(
            "INSERT INTO predictions (id, component, created_at, model_name, model_version, input_kind, "
            "candidates, top1, top1_score, feedback_label) VALUES "
            f"('{'ab' * 16}', 'symbols', '2026-11-01 00:00:00', 'symbols', '1', 'strokes', '[]', 'A', 0.5, 'B')"
        )
    upgraded = FeedbackStore(url)
    [row] = upgraded.labelled("symbols", review=None)  # kept, and waiting for screening
    assert (row.feedback_label, row.review) == ("B", None)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def test_postgresql_store_behaves_the_same(postgres_url: str):
    store = FeedbackStore(postgres_url)
    exercise(store)
    store.engine.dispose()


def test_background_writer_loses_no_prediction_and_feedback_waits_for_it(tmp_path: Path):
    """Two stores on one file stand for two workers: a feedback may reach the one that did not log it."""
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    logging_worker = FeedbackStore(url, batch_window_s=0.3)
    other_worker = FeedbackStore(url, run_migrations=False)
    logging_worker.start_writer()
    ids = [log_one(logging_worker) for _ in range(50)]
    stamps = [i[:12] for i in ids]
    assert len(set(ids)) == 50
    assert stamps == sorted(stamps)
    assert other_worker.count("symbols")["predictions"] < 50  # still in the writer's batch window
    row = asyncio.run(other_worker.add_feedback("symbols", ids[-1], "B"))  # waits until the batch is written
    assert row.feedback_label == "B"
    more = [log_one(logging_worker) for _ in range(20)]
    logging_worker.close()  # shutdown writes whatever is pending
    assert other_worker.count("symbols") == {"predictions": 70, "feedback": 1}
    assert other_worker.get(more[-1]) is not None


def test_feedback_for_an_old_or_unknown_id_is_refused(tmp_path: Path):
    from farga.serving.store import created_recently, new_prediction_id

    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    assert created_recently(new_prediction_id(), within_s=2.0)
    assert not created_recently("0" * 32, within_s=2.0)  # minted in 1970
    assert not created_recently("f" * 32, within_s=2.0)  # minted in the far future
    with pytest.raises(NotFoundError):
        # recent, but never logged: waits, then 404
        asyncio.run(store.add_feedback("symbols", new_prediction_id(), "B"))


def test_a_backed_up_log_refuses_rather_than_grows_and_still_writes_what_it_took(tmp_path: Path):
    from farga.serving.store import StoreBusyError

    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}", batch_window_s=30, max_pending=3)
    store.start_writer()
    taken = [log_one(store) for _ in range(3)]
    with pytest.raises(StoreBusyError, match="backed up"):
        log_one(store)
    store.close()  # stop does not wait for the 30 s window: what was taken is written at once
    assert store.count("symbols")["predictions"] == 3
    assert all(store.get(i) is not None for i in taken)


def durability_violations(store: FeedbackStore, path: Path) -> list[str]:
    """What breaks the durability promise of a feedback on SQLite: its transaction raises the
    connection to synchronous=FULL before its write and commits before add_feedback returns, so
    another connection sees the label the moment it returns."""
    from sqlalchemy import event

    statements: list[str] = []
    event.listen(store.engine, "connect", lambda conn, _: conn.set_trace_callback(statements.append))
    store.engine.dispose()  # every connection from here on is traced
    row = log_one(store)
    statements.clear()
    asyncio.run(store.add_feedback("symbols", row, "B"))
    problems = []
    with sqlite3.connect(path) as other:
        if other.execute("SELECT feedback_label FROM predictions WHERE id = ?", (row,)).fetchone() != ("B",):
            problems.append("answered before the commit: another connection does not see the label")
    full = [i for i, s in enumerate(statements) if s == "PRAGMA synchronous=FULL"]
    update = [i for i, s in enumerate(statements) if s.startswith("UPDATE predictions")]
    commit = [i for i, s in enumerate(statements) if s == "COMMIT" and update and i > update[0]]
    if not (full and update and commit and full[0] < update[0] < commit[0]):
        problems.append("the commit is not synced: no synchronous=FULL before the feedback's write and commit")
    elif any("synchronous=NORMAL" in s for s in statements[full[0] : commit[0]]):
        problems.append("synchronous is lowered again before the commit")
    return problems


def test_a_feedback_is_committed_and_synced_before_add_feedback_returns(tmp_path: Path):
    path = tmp_path / "feedback.db"
    assert durability_violations(FeedbackStore(f"sqlite:///{path}"), path) == []


def test_the_durability_check_catches_a_commit_that_is_not_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from farga.serving import store as store_module

    real = store_module.text
    monkeypatch.setattr(store_module, "text", lambda sql: real("SELECT 1" if "synchronous=FULL" in sql else sql))
    path = tmp_path / "feedback.db"
    assert durability_violations(FeedbackStore(f"sqlite:///{path}"), path) == [
        "the commit is not synced: no synchronous=FULL before the feedback's write and commit"
    ]


def test_the_durability_check_catches_an_answer_before_the_commit(tmp_path: Path):
    import threading

    class AnswersEarly(FeedbackStore):
        def _label(self, component, prediction_id, label, check):  # type: ignore[no-untyped-def]
            threading.Timer(0.3, super()._label, (component, prediction_id, label, check)).start()
            return self.get(prediction_id)

    path = tmp_path / "feedback.db"
    early = AnswersEarly(f"sqlite:///{path}")
    problems = durability_violations(early, path)
    time.sleep(0.5)
    assert problems[0] == "answered before the commit: another connection does not see the label"


def test_a_log_queue_is_bounded_in_bytes_too(tmp_path: Path):
    from farga.serving.store import StoreBusyError

    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}", batch_window_s=30, max_pending_bytes=50_000)
    store.start_writer()
    big = PredictionRecord(
        component="symbols", model_name="m", model_version="1", model_run_id=None, input_kind="image",
        input_json=None, input_blob=b"x" * 30_000, model_input=None, candidates=[], top1="A", top1_score=0.5,
    )  # fmt: skip
    store.log_prediction(big)
    with pytest.raises(StoreBusyError):
        store.log_prediction(big)
    assert store.close() == 0


def test_shutdown_gives_up_on_a_database_that_does_not_take_writes_and_counts_what_it_dropped(tmp_path: Path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}", batch_window_s=30)
    store.start_writer()
    for _ in range(5):
        log_one(store)
    blocker = sqlite3.connect(tmp_path / "feedback.db")
    blocker.execute("BEGIN EXCLUSIVE")  # every write now waits, then fails
    started = time.monotonic()
    dropped = store.close(deadline_s=1.0)
    blocker.rollback()
    assert dropped == 5
    assert time.monotonic() - started < 10  # the deadline, plus one busy timeout in flight


def test_without_inputs_kept_a_prediction_keeps_only_what_was_predicted(tmp_path: Path):
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}", keep_inputs=False)
    row = store.get(log_one(store))
    assert row is not None
    assert (row.input_json, row.input_blob, row.model_input) == (None, None, None)
    assert row.top1


def test_prune_deletes_old_predictions_without_feedback_and_keeps_feedback(tmp_path: Path):
    from sqlalchemy import update

    from farga.serving.store import Prediction

    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    old, old_labelled, new = log_one(store), log_one(store), log_one(store)
    asyncio.run(store.add_feedback("symbols", old_labelled, "B"))
    with store.sessions.begin() as session:
        session.execute(
            update(Prediction).where(Prediction.id.in_([old, old_labelled])).values(created_at=datetime(2020, 1, 1))
        )
    assert store.prune(older_than_days=30).deleted_predictions == 1
    assert store.get(old) is None
    assert store.get(old_labelled) is not None
    assert store.get(new) is not None


def test_past_the_retention_feedback_forgets_its_client_but_admission_can_still_count(tmp_path: Path):
    from sqlalchemy import update

    from farga.serving.store import Prediction

    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.db'}")
    sent = [("ana", "B"), ("ana", "B"), ("ana", "C"), ("bo", "B"), ("cy", "B")]
    ids = [log_one(store) for _ in sent]
    for pid, (client, label) in zip(ids, sent, strict=True):
        asyncio.run(store.add_feedback("symbols", pid, label, client=client))
    with store.sessions.begin() as session:  # all but cy's are past the retention
        session.execute(update(Prediction).where(Prediction.id.in_(ids[:4])).values(feedback_at=datetime(2020, 1, 1)))
    pruned = store.prune(older_than_days=30)
    assert pruned == (0, 4)
    clients = [store.get(pid).feedback_client for pid in ids]  # type: ignore[union-attr]
    assert not {"ana", "bo"} & set(clients)
    assert clients[4] == "cy"  # within the retention: as it was
    assert all(c.startswith("~") and len(c) == 13 for c in clients[:4])
    assert clients[0] == clients[1]  # one sender of one label stays one (distinct senders still count) ...
    assert len(set(clients[:4])) == 3  # ... and is no longer linked across labels, or to anyone
    assert [store.get(pid).feedback_label for pid in ids] == [label for _, label in sent]  # type: ignore[union-attr]
    assert store.prune(older_than_days=30) == (0, 0)  # already anonymous: left as it is
