"""Per-client rate limits, security headers, and what public answers never carry."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_support import CROSS, drawing, metric, png, settings_for
from farga.app import create_app
from farga.serving.identity import client_key, forwarded_client, trusted_networks
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


def test_made_up_methods_are_one_metric_label_not_a_series_each(served: Path):
    with TestClient(create_app(settings_for(served))) as client:
        for i in range(20):
            assert client.request(f"MADEUP{i}", "/healthz").status_code == 405
        client.get("/healthz")
        text = client.get("/metrics").text
    assert "MADEUP" not in text
    assert metric(text, "farga_http_request_duration_seconds_count", route="/healthz", method="other") == 20
    assert metric(text, "farga_http_request_duration_seconds_count", route="/healthz", method="GET") >= 1


def test_the_rate_limiter_keeps_a_bounded_number_of_clients():
    limiter = RateLimitMiddleware(app=None, rates={"predict": Rate(1, 1)}, max_clients=100)
    for i in range(1000):
        assert limiter.wait_s(f"10.0.{i // 256}.{i % 256}", "predict") == 0
    assert len(limiter.buckets) == 100
    assert limiter.wait_s("10.0.3.231", "predict") > 0  # a recent client is still remembered


def test_every_predict_route_draws_from_the_bucket_an_image_at_a_higher_cost(served: Path):
    settings = settings_for(served, rate_predict_per_s=0.01, rate_predict_burst=5, rate_image_cost=2)
    image = {"image": ("x.png", png(drawing()), "image/png")}
    with TestClient(create_app(settings)) as client:
        images = [client.post("/v1/symbols/predict/image", files=image).status_code for _ in range(3)]
        strokes = client.post("/v1/symbols/predict", json=CROSS).status_code
    assert images == [200, 200, 429]  # 2 + 2 of 5 tokens, then 1 left: not enough for an image
    assert strokes == 200  # ... enough for strokes, from the same bucket


def test_the_client_is_the_rightmost_address_no_trusted_proxy_wrote():
    trusted = trusted_networks("127.0.0.1, 10.0.0.0/8")
    assert forwarded_client("203.0.113.9", ["198.51.100.1"], trusted) == "203.0.113.9"  # not a proxy: ignored
    assert forwarded_client("127.0.0.1", ["1.2.3.4, 203.0.113.9"], trusted) == "203.0.113.9"  # forged left part
    assert forwarded_client("127.0.0.1", ["1.2.3.4", "203.0.113.9, 10.1.2.3"], trusted) == "203.0.113.9"
    assert forwarded_client("127.0.0.1", ["1.2.3.4, not-an-address"], trusted) == ""  # refused, not guessed
    assert forwarded_client("127.0.0.1", [], trusted) == "127.0.0.1"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert client_key("x") is None
    for bad in ("*", "127.0.0.1,*", "proxy.local"):
        with pytest.raises(ValueError, match="forwarded_allow_ips"):
            trusted_networks(bad)


def test_one_actor_behind_the_proxy_is_one_client_whatever_it_forges(served: Path):
    """Forged X-Forwarded-For values and the addresses of one /64 share one bucket; another client has its own."""
    settings = settings_for(served, rate_predict_per_s=0.01, rate_predict_burst=3)
    with TestClient(create_app(settings)) as first:
        proxy = TestClient(first.app, client=("127.0.0.1", 5000))

        def via_proxy(forged: str, client: str) -> int:
            headers = {"X-Forwarded-For": f"{forged}, {client}"}
            return proxy.post("/v1/symbols/predict", json=CROSS, headers=headers).status_code

        actor = [via_proxy(f"198.51.100.{i}", f"2001:db8:7:7::{i:x}") for i in range(1, 6)]
        other = via_proxy("198.51.100.1", "2001:db8:7:8::1")
        garbage = proxy.post("/v1/symbols/predict", json=CROSS, headers={"X-Forwarded-For": "1.2.3.4, nonsense"})
    assert actor == [200, 200, 200, 429, 429]
    assert other == 200
    assert garbage.status_code == 400
    assert "names no client address" in garbage.json()["detail"]


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
