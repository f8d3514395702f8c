"""Text a database cannot store is refused at the door: a NUL gets 422 on every route, PostgreSQL included
(where it used to pass validation and fail at the store with a 500)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_support import CROSS, settings_for
from farga.serving.app import create_app
from support import postgres_database

pytestmark = pytest.mark.api


def test_a_nul_anywhere_in_a_request_is_a_422_on_postgresql(served: Path):
    with postgres_database() as url, TestClient(create_app(settings_for(served, database_url=url))) as client:
        symbols = client.post("/v1/symbols/predict", json=CROSS).json()["prediction_id"]
        fillmask = client.post("/v1/fillmask/predict", json={"text": "La <mask> és gran."}).json()["prediction_id"]
        refused = [
            client.post("/v1/symbols/feedback", json={"prediction_id": symbols, "latex": "\\\x00"}),
            client.post(
                "/v1/symbols/feedback", json={"prediction_id": symbols, "latex": "\\spadesuit", "package": "a\x00"}
            ),
            client.post("/v1/fillmask/predict", json={"text": "La <mask> \x00 és gran."}),
            client.post("/v1/fillmask/feedback", json={"prediction_id": fillmask, "words": ["ca\x00sa"]}),
        ]
        stored = client.post("/v1/symbols/feedback", json={"prediction_id": symbols, "latex": "\\spadesuit"})
    assert [r.status_code for r in refused] == [422] * 4, [r.text for r in refused]
    assert all("NUL" in r.text for r in refused)
    assert stored.status_code == 200, stored.text
