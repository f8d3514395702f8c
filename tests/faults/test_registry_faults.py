"""The registry fails under the service: unreachable at start, or without a champion. The service
starts anyway, live but not ready, keeps retrying, and becomes ready by itself once it can load."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from faults_support import record
from mlflow import MlflowClient

from farga.config import Settings
from farga.serving.process import ServerProcess, free_port

pytestmark = pytest.mark.faults


def test_a_registry_unreachable_at_start_leaves_the_service_live_not_ready_and_retrying(served: Path):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    server = ServerProcess(served, env={"FARGA_TRACKING_URI": closed}).start(wait_ready=False)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(8)  # more than one retry interval
        live = httpx.get(f"{server.url}/healthz", timeout=5).status_code
        ready = httpx.get(f"{server.url}/readyz", timeout=5)
        predict = httpx.post(f"{server.url}/v1/fillmask/predict", json={"text": "La <mask>."}, timeout=5)
        alive = server.proc is not None and server.proc.poll() is None
        retries = server.log_tail(200_000).count("model reload for symbols failed")
    finally:
        server.stop()
    assert alive
    assert live == 200
    assert ready.status_code == 503
    assert ready.json()["components"]["symbols"]["loaded"] is False
    assert closed not in ready.text  # the error's kind only, no address
    assert predict.status_code == 503
    assert predict.headers["retry-after"]
    assert retries >= 2  # it keeps trying
    record(
        "the registry unreachable at start",
        f"/healthz 200, /readyz 503, predict 503 with Retry-After; {retries} load attempts in ~10 s; never exited",
        "nothing",
    )


def test_a_champion_that_appears_later_is_served_without_a_restart(served: Path):
    uri = Settings(root=served).resolved_tracking_uri()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.delete_registered_model_alias("symbols", "champion")
    server = ServerProcess(served).start(wait_ready=False)
    try:
        time.sleep(6)
        before = server.ready()
        client.set_registered_model_alias("symbols", "champion", "1")
        waited = server.wait_ready(30)
    finally:
        server.stop()
    assert before is False
    assert waited <= 10  # the retry interval is 5 s
    record(
        "no champion in the registry at start; one registered later",
        f"not ready until then; ready {waited:.1f} s after the champion appeared, without a restart",
        "nothing",
    )
