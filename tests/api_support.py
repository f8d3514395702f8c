"""Helpers for the API tests: requests, images, settings and metric parsing."""

import io
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from farga.loadtest import stage_deltas
from farga.serving.settings import ServeSettings

ADMIN_KEY = "test-admin-key"  # pragma: allowlist secret - the tests' own throwaway admin key


def settings_for(root: Path, **overrides) -> ServeSettings:
    limits_off = {"rate_predict_per_s": 0, "rate_feedback_per_s": 0}  # tests send many requests from one client
    return ServeSettings(root=root, reload_interval_s=0, api_key=ADMIN_KEY, **(limits_off | overrides))


def png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def drawing(size: int = 200) -> np.ndarray:
    """A dark cross on white paper."""
    img = np.full((size, size), 255, np.uint8)
    for i in range(20, size - 20):
        img[i, i - 3 : i + 3] = 0
        img[i, size - i - 3 : size - i + 3] = 0
    return img


CROSS = {"strokes": [[{"x": 0, "y": 0}, {"x": 100, "y": 100}], [{"x": 0, "y": 100}, {"x": 100, "y": 0}]]}


def predict(client: TestClient, payload: dict = CROSS, **kw: object) -> httpx.Response:
    """A symbols prediction, strokes as the page sends them."""
    return client.post("/v1/symbols/predict", json={**payload, **kw})


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus metric's samples whose labels include ``labels`` (any label order)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def stage_times(client: TestClient, route: str, send: Callable[[], httpx.Response]) -> tuple[dict[str, float], float]:
    """One request's ``farga_request_stage_seconds`` observations on ``route`` (count per stage, from
    /metrics before and after) and the sum of its stages' seconds over its whole latency."""
    before = client.get("/metrics").text
    assert send().status_code == 200
    after = client.get("/metrics").text
    grown = stage_deltas(before, after, route)
    latency = metric(after, "farga_http_request_duration_seconds_sum", route=route) - metric(
        before, "farga_http_request_duration_seconds_sum", route=route
    )
    return {s: n for s, (_, n) in grown.items()}, sum(seconds for seconds, _ in grown.values()) / latency
