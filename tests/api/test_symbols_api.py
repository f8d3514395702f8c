"""Every endpoint and every error path of the symbols API, in process (TestClient)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from api_support import ADMIN_KEY, CROSS, drawing, metric, png, predict, settings_for, stage_times
from farga.app import create_app
from farga.serving.store import FeedbackStore
from farga.symbols import catalogue
from farga.symbols.preprocess import normalise_image
from farga.symbols.service import decode_image

pytestmark = pytest.mark.api


def test_health_and_readiness(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["components"]["symbols"]["model"]["version"] == "1"


def test_not_ready_before_a_model_is_loaded(served: Path):
    client = TestClient(create_app(settings_for(served)))  # no `with`: the lifespan has not loaded models
    assert client.get("/readyz").status_code == 503
    response = predict(client)
    assert response.status_code == 503
    assert "no symbols model" in response.json()["detail"]


def test_predict_from_strokes_answers_top_k_best_first_with_provenance(client: TestClient):
    body = predict(client, top_k=7).json()
    assert len(body["prediction_id"]) == 32
    scores = [c["score"] for c in body["candidates"]]
    assert len(scores) == 7
    assert scores == sorted(scores, reverse=True)
    known = catalogue.by_latex()
    for c in body["candidates"]:
        sym = known[c["latex"]]
        assert (c["symbol_id"], c["package"], c["mode"]) == (sym.symbol_id, sym.package, sym.mode)
    model = body["model"]
    assert model["name"] == "symbols"
    assert model["version"] == "1"
    assert model["run_id"]
    assert len(model["data_sha256"]) == 64
    assert model["data_source"] == "synthetic"


def test_predict_defaults_to_five_candidates(client: TestClient):
    assert len(predict(client).json()["candidates"]) == 5


def test_predict_from_an_uploaded_image_either_polarity_and_format(client: TestClient):
    img = drawing()
    answers = []
    for data, mime in [(png(img), "image/png"), (png(255 - img), "image/png"), (png(img, "JPEG"), "image/jpeg")]:
        response = client.post("/v1/symbols/predict", files={"image": ("x", data, mime)}, data={"top_k": "3"})
        assert response.status_code == 200, response.text
        answers.append([c["latex"] for c in response.json()["candidates"]])
    assert answers[0] == answers[1]  # ink polarity does not matter
    assert len(answers[2]) == 3


def test_a_hasyv2_image_through_the_upload_path_is_the_training_input(prepared_project: Path):
    """One preprocessing: the bytes of an archive PNG, decoded as an upload, give the prepared array."""
    prepared = prepared_project / "data" / "prepared" / "symbols"
    import pandas as pd

    manifest = pd.read_parquet(prepared / "manifest.parquet")
    images = np.load(prepared / "images.npy")
    raw = next((prepared_project / "data" / "raw" / "symbols").glob("*.tar"))
    with tarfile.open(raw) as tar:
        for i in (0, 7, 42):
            data = tar.extractfile(manifest.path[i]).read()
            assert np.array_equal(normalise_image(decode_image(data)), images[i])


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"strokes": []}, 422, "at least 1"),
        ({"strokes": [[]]}, 422, "at least 1"),
        ({"strokes": [[{"x": "1", "y": 2}]]}, 422, "valid number"),
        ({"strokes": [[{"x": 1}]]}, 422, "y: Field required"),
        ({"strokes": [[{"x": 1, "y": 2, "z": 3}]]}, 422, "Extra inputs"),
        ({**CROSS, "top_k": 0}, 422, "top_k"),
        ({**CROSS, "top_k": 21}, 422, "top_k"),
        ({**CROSS, "top_k": 2.5}, 422, "top_k"),
        ({**CROSS, "top_k": "5"}, 422, "top_k"),
        ({"strokes": [[{"x": 1, "y": 1}]] * 101}, 422, "at most 100"),
        ({"strokes": [[{"x": i, "y": i} for i in range(2501)]] * 2}, 422, "at most 5000"),
        ({"strokes": [[{"x": 1e308, "y": 1}, {"x": -1e308, "y": 1}]]}, 400, "finite"),
        ({"points": []}, 422, "strokes"),
    ],
)
def test_bad_strokes_get_a_4xx_with_a_reason(client: TestClient, payload, status, fragment):
    response = client.post("/v1/symbols/predict", json=payload)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_non_finite_numbers_and_broken_json_are_rejected(client: TestClient):
    for raw, fragment in [
        ('{"strokes": [[{"x": NaN, "y": 1}]]}', "NaN is not a JSON number"),
        ('{"strokes": [[{"x": Infinity, "y": 1}]]}', "Infinity is not a JSON number"),
        ("{not json", "not valid JSON"),
        ("", "empty"),
    ]:
        response = client.post("/v1/symbols/predict", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400, raw
        assert fragment in response.json()["detail"]


@pytest.mark.parametrize(
    ("files", "data", "status", "fragment"),
    [
        ({"image": ("a.gif", None, "image/gif")}, {}, 400, "PNG or JPEG"),
        ({"image": ("a.txt", b"hello", "text/plain")}, {}, 400, "not a readable"),
        ({"image": ("a.png", b"", "image/png")}, {}, 400, "empty"),
        ({"image": ("big.png", "big", "image/png")}, {}, 400, "at most 1024x1024"),
        ({"image": ("blank.png", "blank", "image/png")}, {}, 400, "no ink"),
        ({"other": ("a.png", "ok", "image/png")}, {}, 422, "body.image: Field required"),
        ({"image": ("a.png", "ok", "image/png")}, {"top_k": "many"}, 422, "top_k"),
        ({"image": ("a.png", "ok", "image/png")}, {"top_k": "0"}, 422, "top_k"),
        (
            {"image": ("a.png", "ok", "image/png")},
            {"colour": "red"},
            422,
            "body.colour: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_uploads_get_a_4xx_with_a_reason(client: TestClient, files, data, status, fragment):
    makers = {
        None: lambda: _gif(),
        "big": lambda: png(np.full((1025, 10), 255, np.uint8)),
        "blank": lambda: png(np.full((64, 64), 255, np.uint8)),
        "ok": lambda: png(drawing()),
    }
    resolved = {k: (n, makers[c]() if c in makers else c, m) for k, (n, c, m) in files.items()}
    response = client.post("/v1/symbols/predict", files=resolved, data=data)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(drawing()).save(buf, format="GIF")
    return buf.getvalue()


def test_wrong_content_type_and_oversized_body(client: TestClient):
    response = client.post("/v1/symbols/predict", content=b"x=1", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    huge = b'{"strokes": [[' + b'{"x": 1, "y": 1},' * 70_000 + b'{"x": 1, "y": 1}]]}'
    response = client.post("/v1/symbols/predict", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_feedback_is_stored_and_classified(client: TestClient, served: Path):
    first = predict(client).json()
    top1 = first["candidates"][0]["latex"]
    second_choice = first["candidates"][1]["latex"]
    outside = next(s.latex for s in catalogue.symbols() if s.latex not in {c["latex"] for c in first["candidates"]})
    for latex, agreement in [(top1, "agree"), (second_choice, "disagree"), (outside, "disagree_outside_topk")]:
        response = client.post("/v1/symbols/feedback", json={"prediction_id": first["prediction_id"], "latex": latex})
        assert response.status_code == 200
        assert response.json() == {
            "prediction_id": first["prediction_id"],
            "latex": latex,
            "agreement": agreement,
            "stored": True,
            "new_symbol": False,
        }
    store = FeedbackStore(f"sqlite:///{served / 'feedback.db'}")
    row = store.get(first["prediction_id"])
    assert row is not None
    assert row.feedback_label == outside
    assert row.model_version == "1"
    assert row.input_kind == "strokes"
    assert row.input_json[0][0] == {"x": 0.0, "y": 0.0}
    assert len(row.model_input) == 32 * 32


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"prediction_id": "0" * 32, "latex": r"\alpha"}, 404, "no symbols prediction"),
        ({"prediction_id": "xyz", "latex": r"\alpha"}, 422, "prediction_id"),
        ({"prediction_id": "0" * 32, "latex": "alpha beta"}, 422, "is not one LaTeX command"),
        ({"prediction_id": "0" * 32}, 422, "latex"),
        ({"prediction_id": "0" * 32, "latex": 5}, 422, "latex"),
    ],
)
def test_bad_feedback_gets_a_4xx_with_a_reason(client: TestClient, payload, status, fragment):
    response = client.post("/v1/symbols/feedback", json=payload)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_the_catalogue(client: TestClient):
    classes = client.get("/v1/symbols/classes").json()
    assert len(classes) == 369
    mathscr = next(c for c in classes if c["latex"] == r"\mathscr{A}")
    assert mathscr["usepackage"] == r"\usepackage{mathrsfs}"
    assert mathscr["preview"]
    assert {c["origin"] for c in classes} == {"catalogue"}  # this model learnt none from its users


def test_metrics_count_requests_predictions_and_feedback(client: TestClient):
    """Counters are process-wide: compare before and after one prediction and one feedback."""
    keys = [
        ("farga_http_request_duration_seconds_count", {"route": "/v1/symbols/predict", "status": "200"}),
        ("farga_predictions_total", {"component": "symbols"}),
        ("farga_feedback_total", {"component": "symbols", "agreement": "agree"}),
        ("farga_prediction_confidence_count", {"component": "symbols"}),
    ]
    before = client.get("/metrics").text
    body = predict(client).json()
    latex = body["candidates"][0]["latex"]
    client.post("/v1/symbols/feedback", json={"prediction_id": body["prediction_id"], "latex": latex})
    after = client.get("/metrics").text
    for name, labels in keys:
        assert metric(after, name, **labels) - metric(before, name, **labels) == 1, name
    assert metric(after, "farga_model_loaded", component="symbols") == 1


@pytest.mark.parametrize(
    ("route", "send", "own"),
    [
        ("/v1/symbols/predict", lambda c: predict(c), ["parse", "validate", "render"]),
        (
            "/v1/symbols/predict/image",
            lambda c: c.post("/v1/symbols/predict/image", files={"image": ("x.png", png(drawing()), "image/png")}),
            ["validate", "decode"],
        ),
    ],
)
def test_a_request_s_time_is_accounted_for_stage_by_stage(client: TestClient, route: str, send, own: list[str]):
    """Every stage of a prediction is observed once per request, and together they are its latency
    (the stages run back to back on the latency middleware's clock: no gap is left unaccounted)."""
    measured = [stage_times(client, route, lambda: send(client)) for _ in range(5)]
    for counts, share in measured:
        assert counts == dict.fromkeys(["middleware", *own, "inference", "log", "serialise", "respond"], 1.0)
        assert share <= 1.0
    # a gap in the stages would show in every request; another process taking the core lowers only some
    assert max(share for _, share in measured) > 0.9


def test_admin_reload_needs_the_key(client: TestClient):
    assert client.post("/v1/admin/reload/symbols").status_code == 401
    assert client.post("/v1/admin/reload/symbols", headers={"x-api-key": "wrong"}).status_code == 401
    assert client.post("/v1/admin/reload/nope", headers={"x-api-key": ADMIN_KEY}).status_code == 404
    ok = client.post("/v1/admin/reload/symbols", headers={"x-api-key": ADMIN_KEY})
    assert ok.status_code == 200
    assert ok.json() == {"changed": False, "version": "1"}


def test_admin_is_disabled_without_a_key(served: Path):
    with TestClient(create_app(settings_for(served).model_copy(update={"api_key": SecretStr("")}))) as client:
        response = client.post("/v1/admin/reload/symbols", headers={"x-api-key": ""})
        assert response.status_code == 403


def test_the_page_and_its_assets_are_served_locally(client: TestClient):
    page = client.get("/")
    assert page.status_code == 200
    assert "/static/app/app.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: works offline
    for asset in ("/static/app/app.js", "/static/app/app.css", "/static/symbols/tab.js", "/static/symbols/tab.css"):
        assert client.get(asset).status_code == 200, asset
    components = {c["name"]: c for c in client.get("/v1/components").json()}
    assert components["symbols"]["page"] == "/static/symbols/tab.js"


def test_openapi_documents_one_typed_route_per_input_kind(client: TestClient):
    spec = client.get("/openapi.json").json()
    strokes = spec["paths"]["/v1/symbols/predict"]["post"]
    image = spec["paths"]["/v1/symbols/predict/image"]["post"]
    assert set(strokes["requestBody"]["content"]) == {"application/json"}
    assert set(image["requestBody"]["content"]) == {"multipart/form-data"}
    # the URL clients already use keeps taking images: it says where it hands them
    assert strokes["x-farga-forward"] == {"multipart/form-data": "/v1/symbols/predict/image"}
    assert json.dumps(spec)  # serialisable


def test_an_image_is_answered_the_same_at_either_url(client: TestClient):
    files = {"image": ("d.png", png(drawing()), "image/png")}
    old, new = (client.post(url, files=files, data={"top_k": "3"}) for url in URLS)
    assert old.status_code == new.status_code == 200
    assert [c["latex"] for c in old.json()["candidates"]] == [c["latex"] for c in new.json()["candidates"]]
    assert len(old.json()["candidates"]) == 3


URLS = ("/v1/symbols/predict", "/v1/symbols/predict/image")
