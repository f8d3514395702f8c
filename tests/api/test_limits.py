"""Per-client rate limits, security headers, and what public answers never carry."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_support import CROSS, settings_for
from farga.serving.app import create_app
from farga.serving.limits import Rate, RateLimitMiddleware

pytestmark = pytest.mark.api


def test_a_client_over_its_rate_gets_429_with_retry_after(served: Path):
    settings = settings_for(served, rate_predict_per_s=2, rate_predict_burst=3, rate_feedback_per_s=1)
    with TestClient(create_app(settings)) as client:
        statuses = [client.post("/v1/symbols/predict", json=CROSS).status_code for _ in range(6)]
        limited = client.post("/v1/fillmask/predict", json={"text": "La <mask> és gran."})
        other_kind = client.get("/v1/symbols/classes")
    assert statuses[:3] == [200, 200, 200]  # the burst
    assert 429 in statuses[3:]
    assert limited.status_code == 429  # predict is one budget across components
    assert int(limited.headers["retry-after"]) >= 1
    assert "too many predict requests" in limited.json()["detail"]
    assert other_kind.status_code == 200  # reads are not limited


def test_the_rate_limiter_keeps_a_bounded_number_of_clients():
    limiter = RateLimitMiddleware(app=None, rates={"predict": Rate(1, 1)}, max_clients=100)
    for i in range(1000):
        assert limiter.wait_s(f"10.0.{i // 256}.{i % 256}", "predict") == 0
    assert len(limiter.buckets) == 100
    assert limiter.wait_s("10.0.3.231", "predict") > 0  # a recent client is still remembered


def test_the_page_carries_security_headers_and_answers_name_no_internal_path(client: TestClient, served: Path):
    page = client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    answer = client.post("/v1/symbols/predict", json=CROSS)
    ready = client.get("/readyz").text
    for text in (answer.text, ready, client.get("/v1/components").text):
        assert str(served) not in text
        assert "sqlite:" not in text
        assert "mlflow" not in text.lower()


def test_the_admin_key_is_a_secret_no_representation_shows(served: Path):
    settings = settings_for(served)
    assert "test-admin-key" not in repr(settings)
    assert "test-admin-key" not in str(settings.model_dump())
