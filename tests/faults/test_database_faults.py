"""The database fails under the service: PostgreSQL stopped for 20 s under load, SQLite on a full
filesystem, SQLite locked by another writer. Writes answer 503 with Retry-After, predictions go on,
/readyz says what is wrong, and the service recovers by itself; nothing acknowledged is lost."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faults_support import Postgres, lost_feedback, lost_predictions, record, sqlite_url

from farga.loadgen import Traffic
from farga.serving.process import ServerProcess
from farga.serving.store import FeedbackStore

pytestmark = pytest.mark.faults
OUTAGE_S = 20


def readiness(url: str) -> tuple[int, dict]:
    response = httpx.get(f"{url}/readyz", timeout=10)
    return response.status_code, response.json()


def test_postgresql_stopped_for_20_s_under_load(served: Path, own_postgres: Postgres):
    server = ServerProcess(served, workers=2, env={"FARGA_DATABASE_URL": own_postgres.url}).start()
    traffic = Traffic(server.url, clients=4).start()
    try:
        time.sleep(3)
        own_postgres.stop()
        stopped = time.monotonic()
        polls = []
        while time.monotonic() - stopped < OUTAGE_S:
            polls.append((time.monotonic() - stopped, *readiness(server.url)))
            time.sleep(0.5)
        own_postgres.start()
        back = time.monotonic()
        while readiness(server.url)[0] != 200 and time.monotonic() - back < 30:
            time.sleep(0.1)
        recovered_s = time.monotonic() - back
        time.sleep(3)
    finally:
        traffic.stop()
        server.stop()
    statuses = traffic.statuses()
    during = [p for p in polls if p[0] > 2]  # the first write to fail tells readiness
    lost = lost_feedback(traffic, own_postgres.url)
    assert len(traffic.predicted) > 0
    assert set(statuses) <= {"200", "503"}, statuses
    assert statuses["503"] > 0  # the outage was seen: feedback could not be stored meanwhile
    assert all(status == 503 and not body["database"]["ok"] for _, status, body in during), during[:3]
    assert "does not answer" in during[-1][2]["database"]["problem"]
    assert recovered_s <= 5
    assert lost == []
    not_logged = lost_predictions(traffic, own_postgres.url)
    assert not_logged == 0  # predictions made during the outage waited in the queue, then were written
    record(
        f"PostgreSQL stopped for {OUTAGE_S} s under load (4 clients, 2 workers)",
        ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
        + f"; /readyz 503 ('{during[-1][2]['database']['problem']}') throughout; ready {recovered_s:.1f} s "
        "after PostgreSQL was back",
        f"0 of {len(traffic.acknowledged)} acknowledged feedback; 0 of {len(traffic.predicted)} answered predictions",
        statuses=dict(statuses),
        recovered_s=round(recovered_s, 2),
        acknowledged_feedback=len(traffic.acknowledged),
    )


@pytest.fixture
def small_filesystem() -> Iterator[Path]:
    """A 16 MiB tmpfs of the test's own (mounting needs root, which CI has)."""
    mount = Path(tempfile.mkdtemp(prefix="farga-full-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs as root and must be able to mount a tmpfs: {done.stderr.decode()}")
        pytest.skip(f"cannot mount a small filesystem here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        with contextlib.suppress(OSError):
            mount.rmdir()


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def test_sqlite_on_a_full_filesystem(served: Path, small_filesystem: Path):
    url = f"sqlite:///{small_filesystem / 'feedback.db'}"
    server = ServerProcess(served, env={"FARGA_DATABASE_URL": url}).start()
    try:
        filler = fill(small_filesystem)
        while_full = Traffic(server.url, clients=2).start()
        time.sleep(4)
        status, body = readiness(server.url)
        while_full.stop()
        full = while_full.statuses()
        filler.unlink()
        freed = time.monotonic()
        while readiness(server.url)[0] != 200 and time.monotonic() - freed < 15:
            time.sleep(0.1)  # the writer's next retry finds room, and writes what waited
        recovered_s = time.monotonic() - freed
        once_freed = Traffic(server.url, clients=2).start()
        time.sleep(2)
        once_freed.stop()
        after = once_freed.statuses()
        ready_after = readiness(server.url)[0]
    finally:
        server.stop()
    assert set(full) <= {"200", "503"}, full
    assert full["503"] > 0  # feedback could not be written
    assert len(while_full.predicted) >= 5  # predictions were still served (each client also waits on its feedback)
    assert status == 503
    assert "refuses writes" in body["database"]["problem"]
    assert set(after) == {"200"}, after  # recovered by itself once there was room again
    assert ready_after == 200
    # what was acknowledged in either phase is stored; predictions answered while full were written once freed
    if while_full.acknowledged:  # (a feedback can find room between the filler's last write and the next)
        assert lost_feedback(while_full, url) == []
    assert lost_feedback(once_freed, url) == []
    assert lost_predictions(while_full, url) == 0
    assert lost_predictions(once_freed, url) == 0
    record(
        "SQLite on a full filesystem (a 16 MiB tmpfs filled), 2 clients",
        f"while full: {', '.join(f'{n} x {s}' for s, n in sorted(full.items()))} (predictions 200, feedback 503); "
        f"/readyz 503 ('{body['database']['problem']}'); once space was freed: "
        f"ready {recovered_s:.1f} s after, then {', '.join(f'{n} x {s}' for s, n in sorted(after.items()))}",
        "no acknowledged feedback; predictions answered while full waited in the queue and were written once "
        "there was room",
        while_full=dict(full),
        after=dict(after),
    )


def test_sqlite_locked_by_another_writer(served: Path):
    server = ServerProcess(served).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            answer = http.post("/v1/fillmask/predict", json={"text": "La <mask> és gran."}).json()
            time.sleep(0.3)  # written by the log's writer
            blocker = sqlite3.connect(served / "feedback.db", timeout=1)
            blocker.execute("BEGIN EXCLUSIVE")
            started = time.monotonic()
            locked = http.post("/v1/fillmask/feedback", json={"prediction_id": answer["prediction_id"], "words": ["x"]})
            took = time.monotonic() - started
            blocker.rollback()
            blocker.close()
            unlocked = http.post(
                "/v1/fillmask/feedback", json={"prediction_id": answer["prediction_id"], "words": ["casa"]}
            )
    finally:
        server.stop()
    assert locked.status_code == 503, locked.text
    assert locked.headers["retry-after"]
    assert "not taking writes" in locked.json()["detail"]
    assert unlocked.status_code == 200
    assert lost_predictions([answer["prediction_id"]], sqlite_url(served)) == 0
    stored = FeedbackStore(sqlite_url(served), run_migrations=False).get(answer["prediction_id"])
    assert stored is not None
    assert stored.feedback_label == '["casa"]'  # the acknowledged label, not the refused one
    record(
        "SQLite locked by another writer (BEGIN EXCLUSIVE) during a feedback",
        f"503 with Retry-After after {took:.1f} s (the busy timeout); 200 once the lock was released",
        "nothing: the client was told to retry",
        seconds=round(took, 2),
    )
