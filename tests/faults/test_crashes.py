"""Crashes and stops under load: ``kill -9`` of a worker and of the whole server, five rounds each,
and SIGTERM as an orchestrator sends it. What the clients were told was stored must be in the store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faults_support import lost_feedback, lost_predictions, record, sqlite_url

from farga.loadgen import Traffic
from farga.serving.process import ServerProcess

pytestmark = pytest.mark.faults
ROUNDS = 5


def test_kill_9_of_a_worker_and_of_the_server_loses_no_acknowledged_feedback(served: Path):
    server = ServerProcess(served, workers=2).start()
    traffic = Traffic(server.url, clients=4).start()
    restarts = []
    try:
        for round_ in range(ROUNDS):
            time.sleep(1.5)
            server.kill_worker(round_ % 2)  # the supervisor starts a new worker in its place
            time.sleep(1.5)
            server.kill()  # every process at once: nothing runs its shutdown
            time.sleep(0.3)
            server.start(wait_ready=False)
            restarts.append(server.wait_ready(60))
        time.sleep(1.5)
    finally:
        traffic.stop()
        server.stop()
    url = sqlite_url(served)
    lost = lost_feedback(traffic, url)
    dropped = lost_predictions(traffic, url)
    statuses = traffic.statuses()
    assert len(traffic.acknowledged) > 20, statuses  # the load really ran through the rounds
    assert lost == []
    assert traffic.server_errors() == []
    record(
        f"kill -9 of one worker, then of the whole server, {ROUNDS} rounds, 4 clients predicting and giving feedback",
        ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
        + " (connection errors: requests to a killed process, never acknowledged, or sent while it was down); "
        + f"ready again {max(restarts):.1f} s at most after each restart",
        f"0 of {len(traffic.acknowledged)} acknowledged feedback; {dropped} of {len(traffic.predicted)} "
        "answered predictions were never logged (they were in a killed worker's queue)",
        acknowledged_feedback=len(traffic.acknowledged),
        lost_feedback=len(lost),
        predictions=len(traffic.predicted),
        predictions_not_logged=dropped,
        statuses=dict(statuses),
    )


def test_sigterm_under_load_fails_no_request_and_writes_every_logged_prediction(served: Path):
    server = ServerProcess(served, workers=2).start()
    traffic = Traffic(server.url, clients=4).start()
    try:
        time.sleep(3)
        signalled = time.monotonic() - traffic._start
        code = server.terminate(timeout=40)
        time.sleep(0.5)  # the clients find the door closed
    finally:
        traffic.stop()
        server.stop()
    after = [a for a in traffic.answers if a.at >= signalled - 0.5]
    failed = [a for a in traffic.answers if a.status != 200 and a.outcome != "ConnectError"]
    refused = sum(a.outcome == "ConnectError" for a in traffic.answers)
    url = sqlite_url(served)
    assert code == 0, server.log_tail()
    assert len(traffic.predicted) > 50
    assert failed == [], failed[:5]  # a request the server took was answered, and 200
    assert lost_feedback(traffic, url) == []
    assert lost_predictions(traffic, url) == 0  # the log's queue was written before exit
    record(
        "SIGTERM under load (4 clients), as an orchestrator stops a pod",
        f"every request it took answered 200 ({len(after)} from half a second before the signal on); "
        f"{refused} later connections refused (the server had stopped listening); exit code {code}",
        f"nothing: 0 failed requests, all {len(traffic.predicted)} answered predictions logged",
        failed=len(failed),
        refused_after=refused,
        predictions=len(traffic.predicted),
    )
