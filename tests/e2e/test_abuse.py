"""One actor cannot pass for many behind the real proxy: a server process behind nginx, the actor on a
loopback address of its own (127.0.0.2, not a trusted proxy), forging X-Forwarded-For at will."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_support import CROSS
from farga.serving.balancer import TEMPLATE, nginx
from farga.serving.process import ServerProcess
from farga.serving.store import FeedbackStore
from support import REPO, tool

pytestmark = pytest.mark.e2e
BURST = 4


@pytest.fixture
def behind_nginx(served: Path, tmp_path: Path) -> Iterator[str]:
    tool("nginx", "make system-deps (Debian's nginx)")
    env = {
        "FARGA_FORWARDED_ALLOW_IPS": "127.0.0.1",  # nginx: the one proxy
        "FARGA_RATE_PREDICT_PER_S": "0.01",
        "FARGA_RATE_PREDICT_BURST": str(BURST),
        "FARGA_RATE_FEEDBACK_PER_S": "0",
        "FARGA_COMPONENTS": "symbols",
    }
    server = ServerProcess(served, env=env)
    balancer = nginx(REPO / TEMPLATE, tmp_path / "nginx", [f"127.0.0.1:{server.port}"])
    try:
        server.start(timeout=120)
        balancer.start(timeout=30)
        yield balancer.url
    finally:
        balancer.stop()
        server.stop()


def client_from(address: str, url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, transport=httpx.HTTPTransport(local_address=address))


def test_forged_forwarded_for_behind_nginx_is_one_client_one_bucket_one_pseudonym(behind_nginx: str, served: Path):
    forged = [f"198.51.100.{i}" for i in range(1, 9)] + ["2001:db8::1, 198.51.100.77", "not-an-address"]
    with client_from("127.0.0.2", behind_nginx) as actor, client_from("127.0.0.3", behind_nginx) as other:
        answers = [
            actor.post("/v1/symbols/predict", json=CROSS, headers={"X-Forwarded-For": value}) for value in forged
        ]
        someone_else = other.post("/v1/symbols/predict", json=CROSS)
        sent = [r.json()["prediction_id"] for r in answers if r.status_code == 200]
        for pid, value in zip(sent, forged, strict=False):
            body = {"prediction_id": pid, "latex": r"\alpha"}
            feedback = actor.post("/v1/symbols/feedback", json=body, headers={"X-Forwarded-For": value})
            assert feedback.status_code == 200, feedback.text
    statuses = [r.status_code for r in answers]
    assert statuses[:BURST] == [200] * BURST  # one bucket: the burst, then refused, whatever the header says
    assert set(statuses[BURST:]) == {429}, statuses
    assert someone_else.status_code == 200  # another address behind the same proxy has a bucket of its own
    store = FeedbackStore(f"sqlite:///{served / 'feedback.db'}")
    pseudonyms = {row.feedback_client for row in store.labelled("symbols")}
    assert len(pseudonyms) == 1  # every feedback the actor sent counts as one client's
