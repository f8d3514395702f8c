"""Bounded by construction: what a client sends cannot push a worker past its memory budget."""

from __future__ import annotations

import random
import string
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from faults_support import record

from farga.serving.process import ServerProcess, rss_mb
from farga.serving.settings import ServeSettings

pytestmark = pytest.mark.faults
WORDS = 100_000
PER_REQUEST = 25


def random_words(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    letters = string.ascii_lowercase + "àèéíòóúïüç"
    return ["".join(rng.choices(letters, k=rng.randint(6, 14))) for _ in range(n)]


def test_100000_distinct_random_words_keep_a_fillmask_worker_under_its_budget(served: Path):
    budget = ServeSettings().memory_budget_mb
    server = ServerProcess(served, env={"FARGA_COMPONENTS": "fillmask"}).start()
    words = random_words(WORDS)
    texts = [" ".join(words[i : i + PER_REQUEST - 1]) + " <mask>" for i in range(0, WORDS, PER_REQUEST - 1)]
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for _ in range(50):  # warm: the allocator and the runtime reach their working size
                http.post("/v1/fillmask/predict", json={"text": "La <mask> és gran."})
        before = rss_mb(server.pid)

        def send(chunk: list[str]) -> list[int]:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                return [http.post("/v1/fillmask/predict", json={"text": t}).status_code for t in chunk]

        with ThreadPoolExecutor(4) as pool:
            statuses = [s for part in pool.map(send, [texts[i::4] for i in range(4)]) for s in part]
        time.sleep(0.5)
        after = rss_mb(server.pid)
    finally:
        server.stop()
    assert set(statuses) <= {200, 422}, set(statuses)
    assert after < budget
    assert after - before < 10  # the word cache does not grow with what users type (it did by 12 MB here)
    record(
        f"{WORDS:,} distinct random words sent to fillmask ({len(texts):,} requests)",
        f"{statuses.count(200)} x 200, {statuses.count(422)} x 422 (longer than the model reads)",
        f"nothing; worker RSS {before:.0f} MB before, {after:.0f} MB after (budget {budget} MB)",
        rss_before_mb=round(before, 1),
        rss_after_mb=round(after, 1),
        budget_mb=budget,
    )
