"""Every endpoint and error path of the fillmask API, in process (TestClient)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_support import metric, stage_times
from farga.serving.store import FeedbackStore

pytestmark = pytest.mark.api
URL = "/v1/fillmask"


def logged(root: Path, prediction_id: str):
    """The stored prediction, once the service's background writer has written it."""
    store = FeedbackStore(f"sqlite:///{root / 'feedback.db'}")
    for _ in range(200):
        if (row := store.get(prediction_id)) is not None:
            return row
        time.sleep(0.05)
    raise AssertionError(f"prediction {prediction_id} was never written")


def predict(client: TestClient, text: str = "Les cases de <mask> són molt grans.", **kw):
    return client.post(f"{URL}/predict", json={"text": text, **kw})


def test_both_components_are_served_and_ready(client: TestClient):
    ready = client.get("/readyz").json()
    assert ready["ready"]
    assert ready["components"]["fillmask"]["model"]["version"] == "1"
    components = {c["name"]: c for c in client.get("/v1/components").json()}
    assert components["fillmask"]["page"] == "/static/fillmask/tab.js"
    for asset in ("/static/fillmask/tab.js", "/static/fillmask/tab.css"):
        assert client.get(asset).status_code == 200, asset


def test_predict_answers_top_k_words_per_mask_with_provenance(client: TestClient):
    body = predict(client, "La <mask> de <mask> és molt gran.", top_k=3).json()
    assert len(body["prediction_id"]) == 32
    assert len(body["masks"]) == 2
    for mask in body["masks"]:
        scores = [c["score"] for c in mask["candidates"]]
        assert len(scores) == 3
        assert scores == sorted(scores, reverse=True)
        assert 0 < sum(scores) <= 1 + 1e-6
        assert all(c["token"].strip() and " " not in c["token"] for c in mask["candidates"])
    assert body["model"]["name"] == "fillmask"
    assert body["model"]["data_source"] == "synthetic"
    assert len(predict(client).json()["masks"][0]["candidates"]) == 5  # the default top_k


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"text": "Aquí no hi ha cap marcador."}, "no <mask> marker"),
        ({"text": "<mask> " * 6}, "at most 5"),
        ({"text": "paraula " * 140 + "<mask>."}, "at most 1000 characters"),
        ({"text": "casa " * 80 + "<mask>."}, "subword tokens long"),
        ({"text": "La <mask>.", "top_k": 0}, "top_k"),
        ({"text": "La <mask>.", "top_k": 21}, "top_k"),
        ({"text": "La <mask>.", "top_k": "5"}, "top_k"),
        ({"text": 5}, "text"),
        ({"text": "La <mask>.", "extra": 1}, "extra"),
        ({}, "text"),
    ],
)
def test_bad_requests_get_a_422_that_says_why(client: TestClient, payload, fragment):
    response = client.post(f"{URL}/predict", json=payload)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


def test_broken_json_is_a_400_that_says_where(client: TestClient):
    response = client.post(f"{URL}/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]
    assert "column 2" in response.json()["detail"]


def test_feedback_is_stored_and_classified_per_mask(client: TestClient, served: Path):
    first = predict(client, "La <mask> de <mask> és molt gran.").json()
    top = [m["candidates"][0]["token"] for m in first["masks"]]
    second = first["masks"][1]["candidates"][1]["token"]
    response = client.post(f"{URL}/feedback", json={"prediction_id": first["prediction_id"], "words": [top[0], second]})
    assert response.status_code == 200, response.text
    assert response.json()["agreement"] == ["agree", "disagree"]
    response = client.post(f"{URL}/feedback", json={"prediction_id": first["prediction_id"], "words": ["zzzq", top[1]]})
    assert response.json()["agreement"] == ["disagree_outside_topk", "agree"]
    row = FeedbackStore(f"sqlite:///{served / 'feedback.db'}").get(first["prediction_id"])
    assert row is not None
    assert row.component == "fillmask"
    assert row.input_kind == "text"
    assert json.loads(row.feedback_label) == ["zzzq", top[1]]
    assert row.input_json["text"] == "La <mask> de <mask> és molt gran."


@pytest.mark.parametrize(
    ("words", "status", "fragment"),
    [(["una"], 422, "2 <mask> marker(s)"), (["dues paraules", "x"], 422, "one word"), ([], 422, "words")],
)
def test_bad_feedback_gets_a_4xx_with_a_reason(client: TestClient, served: Path, words, status, fragment):
    first = predict(client, "La <mask> de <mask> és molt gran.").json()
    response = client.post(f"{URL}/feedback", json={"prediction_id": first["prediction_id"], "words": words})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert logged(served, first["prediction_id"]).feedback_label is None


def test_feedback_for_an_unknown_or_malformed_prediction(client: TestClient):
    assert client.post(f"{URL}/feedback", json={"prediction_id": "0" * 32, "words": ["x"]}).status_code == 404
    assert client.post(f"{URL}/feedback", json={"prediction_id": "xyz", "words": ["x"]}).status_code == 422


def test_a_symbols_prediction_cannot_take_fillmask_feedback(client: TestClient):
    strokes = {"strokes": [[{"x": 0, "y": 0}, {"x": 9, "y": 9}]]}
    other = client.post("/v1/symbols/predict", json=strokes).json()["prediction_id"]
    assert client.post(f"{URL}/feedback", json={"prediction_id": other, "words": ["x"]}).status_code == 404


def test_metrics_count_fillmask_predictions_by_word_class(client: TestClient):
    before = client.get("/metrics").text
    predict(client)
    after = client.get("/metrics").text
    counted = sum(
        metric(after, "farga_predictions_total", component="fillmask", label=c)
        for c in ("function_word", "content_word")
    )
    was = sum(
        metric(before, "farga_predictions_total", component="fillmask", label=c)
        for c in ("function_word", "content_word")
    )
    assert counted == was + 1
    assert metric(after, "farga_prediction_confidence_count", component="fillmask") >= 1


def test_a_fillmask_request_s_time_is_accounted_for_stage_by_stage(client: TestClient):
    counts, share = stage_times(client, "/v1/fillmask/predict", lambda: predict(client))
    assert counts == dict.fromkeys(["middleware", "parse", "validate", "inference", "log", "respond"], 1.0)
    assert 0.9 < share <= 1.0


def test_what_users_type_never_grows_the_word_cache(client: TestClient):
    predictor = client.app.state.services["fillmask"].slot.current.model
    size = len(predictor.cache.cache)
    assert size > 3  # the model's own words, encoded once at load
    for i in range(30):
        predict(client, f"paraulainventada{i} altra{i}x <mask> tercera{i}y")
    assert len(predictor.cache.cache) == size


@pytest.mark.parametrize("markers", ["<MASK> " * 6 + "<mask>", "<Mask> " * 3 + "<mAsK> " * 3])
def test_the_mask_limit_counts_markers_in_any_case(client: TestClient, markers: str):
    response = predict(client, markers)
    assert response.status_code == 422
    assert "at most 5" in response.json()["detail"]


def test_a_model_without_the_trigram_it_is_served_with_is_refused(served: Path, tmp_path: Path):
    import shutil

    from farga.fillmask.predictor import Predictor
    from farga.onnx_runtime import model_file

    model = next((served / "models" / "fillmask").glob("**/model.onnx")).parent
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    assert Predictor.load(copy).ngram_weight > 0  # whole, it loads, and is served mixed with its trigram
    model_file(copy, "ngram.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"ngram\.npz"):
        Predictor.load(copy)  # never served as the transformer alone in silence
