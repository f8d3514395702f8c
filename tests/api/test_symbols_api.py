"""Every endpoint and every error path of the symbols API, in process (TestClient)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from api_support import ADMIN_KEY, CROSS, drawing, metric, png, settings_for
from farga.serving.app import create_app
from farga.serving.deps import pseudonym
from farga.serving.store import FeedbackStore
from farga.symbols import catalogue
from farga.symbols.preprocess import normalise_image
from farga.symbols.service import decode_image
from support import tool

pytestmark = pytest.mark.api


def predict(client: TestClient, payload=CROSS, **kw):
    return client.post("/v1/symbols/predict", json={**payload, **kw})


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


def test_labelled_feedback_exports_in_the_training_format(client: TestClient, served: Path, monkeypatch):
    from typer.testing import CliRunner

    from farga.cli import app
    from farga.symbols.archive import read_archive

    vee = {"strokes": [[{"x": 0, "y": 0}, {"x": 50, "y": 100}, {"x": 100, "y": 0}]]}
    ids = {}
    for latex, payload in ((r"\alpha", CROSS), (r"\beta", CROSS), (r"\gamma", vee)):
        ids[latex] = predict(client, payload).json()["prediction_id"]
        client.post("/v1/symbols/feedback", json={"prediction_id": ids[latex], "latex": latex})
    predict(client)  # unlabelled: not exported
    monkeypatch.setenv("FARGA_ROOT", str(served))
    out = served / "feedback.tar"

    def export(*flags: str) -> dict:
        result = CliRunner().invoke(app, ["feedback", "export", "symbols", "--out", str(out), *flags])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    assert export()["samples"] == 0  # nothing screened or reviewed yet: nothing may train
    assert export("--all")["samples"] == 2  # the cross was labelled twice: its latest label wins
    archive = read_archive(out, progress=False)
    assert sorted(archive.labels.latex) == [r"\beta", r"\gamma"]
    image = next(iter(archive.images.values()))
    assert image.shape == (32, 32)
    assert np.median(image) == 255
    assert set(archive.symbols.latex) == {r"\beta", r"\gamma"}

    client.app.state.store.set_review("symbols", {ids[r"\gamma"]: ("accepted", "")})
    assert export()["samples"] == 1
    assert list(read_archive(out, progress=False).labels.latex) == [r"\gamma"]


def test_a_model_baked_into_a_directory_is_served_and_not_reloaded_again(served: Path, monkeypatch):
    monkeypatch.setenv("FARGA_MODEL_DIR_SYMBOLS", str(served / "models" / "symbols"))
    with TestClient(create_app(settings_for(served))) as client:
        assert predict(client).json()["model"]["source"] == "directory"  # no path in a public answer
        again = client.post("/v1/admin/reload/symbols", headers={"x-api-key": ADMIN_KEY}).json()
        assert again == {"changed": False, "version": "local"}


def scribble(seed: int) -> dict:
    """A drawing of its own per seed (feedback on the same ink map counts once)."""
    rng = np.random.default_rng(seed)
    return {"strokes": [[{"x": float(x), "y": float(y)} for x, y in rng.uniform(0, 100, size=(6, 2))]]}


def test_a_command_outside_the_catalogue_is_kept_and_becomes_a_class_once_enough_people_drew_it_and_a_person_approved(
    client: TestClient, served: Path, monkeypatch
):
    from typer.testing import CliRunner

    from farga.cli import app
    from farga.serving import ledger
    from farga.symbols.archive import read_archive
    from farga.symbols.contract import feedback_report
    from farga.symbols.user_symbols import FIRST_USER_ID, USER_SYMBOLS, WAITS_FOR_A_PERSON, read_user_symbols

    tool("pdflatex", "make system-deps installs TeX Live: a new command must compile before it becomes a class")
    # other people: the same service seen from other addresses (the first client ran its lifespan)
    people = [client, *(TestClient(client.app, client=(f"203.0.113.{i}", 4000)) for i in (1, 2))]

    def teach(person: TestClient, seed: int, latex: str, package: str | None = None) -> dict:
        pid = predict(person, scribble(seed)).json()["prediction_id"]
        sent = {"prediction_id": pid, "latex": latex} | ({"package": package} if package else {})
        response = person.post("/v1/symbols/feedback", json=sent)
        assert response.status_code == 200, response.text
        return response.json()

    first = teach(people[0], 0, r"\spadesuit")
    assert first["new_symbol"]
    assert first["agreement"] == "disagree_outside_topk"
    assert not teach(people[0], 1, r"\alpha")["new_symbol"]
    for seed in (2, 3, 5, 6):  # one client: only 3 of its drawings count
        teach(people[0], seed, r"\spadesuit")
    for seed in range(10, 14):  # a misspelt command, from two people: TeX refuses it
        teach(people[seed % 2], seed, r"\spadesuitt")
    monkeypatch.setenv("FARGA_ROOT", str(served))
    out = served / "data" / "feedback" / "symbols" / "feedback.tar"
    out.parent.mkdir(parents=True, exist_ok=True)

    def farga(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    def export() -> dict:
        return json.loads(farga("feedback", "export", "symbols", "--out", str(out), "--all"))

    waiting = export()
    assert waiting["waiting_symbols"] == {
        r"\spadesuit": "3 of 4 drawings counted (at most 3 per client); 1 of 2 distinct clients",
        r"\spadesuitt": WAITS_FOR_A_PERSON,  # TeX is asked when a person approves it
    }
    assert set(read_archive(out, progress=False).labels.latex) == {r"\alpha"}  # the rest waits in the store
    assert read_user_symbols(out.parent / USER_SYMBOLS) == []
    assert "cannot be approved yet" in farga("ops", "review", "symbols", "--approve", r"\spadesuit", code=1)

    teach(people[1], 4, r"\spadesuit")
    sheets = served / "sheets"
    listed = farga("ops", "review", "symbols", "--sheets", str(sheets), "--by", "ana")
    assert "waits for a person" in listed
    assert (sheets / "symbols" / "symbol-spadesuit.png").exists()
    assert "Undefined control sequence" in farga("ops", "review", "symbols", "--approve", r"\spadesuitt", code=1)
    assert r"\spadesuit" not in export().get("new_symbols", {})  # ready, but not approved
    farga("ops", "review", "symbols", "--approve", r"\spadesuit", "--by", "ana")
    farga("ops", "review", "symbols", "--refuse", r"\spadesuitt", "--why", "a typo", "--by", "ana")
    admitted = export()
    assert admitted["new_symbols"] == {r"\spadesuit": {"drawings": 6, "clients": 2}}
    assert admitted["refused_symbols"] == {r"\spadesuitt": "a typo"}
    labels = read_archive(out, progress=False).labels
    assert (labels.symbol_id[labels.latex == r"\spadesuit"] == FIRST_USER_ID).sum() == 6
    [learnt] = read_user_symbols(out.parent / USER_SYMBOLS)
    assert (learnt.latex, learnt.package, learnt.mode, learnt.symbol_id) == (r"\spadesuit", None, "math", FIRST_USER_ID)
    assert feedback_report(out, served / "data" / "prepared" / "symbols").ok  # the contract takes the new class
    store = client.app.state.store
    audit = [(label, verdict, who) for _, label, verdict, who, _ in ledger.audit(store, "symbols")]
    assert audit == [(r"\spadesuit", "approved", "ana"), (r"\spadesuitt", "refused", "ana")]

    # clients are HMACs of their address under the store's own random secret: no address, no plain hash
    secret = store.client_secret()
    assert len(secret) == 64
    assert FeedbackStore(f"sqlite:///{served / 'other.db'}").client_secret() != secret
    stored = {p.feedback_client for p in store.labelled("symbols")}
    assert stored == {pseudonym(secret, "testclient"), pseudonym(secret, "203.0.113.1")}
    unkeyed = {hashlib.sha256(f":{ip}".encode()).hexdigest()[:16] for ip in ("testclient", "203.0.113.1")}
    assert not stored & unkeyed


@pytest.mark.parametrize(
    ("latex", "package", "says"),
    [
        (r"\foo bar", None, "is not one LaTeX command"),
        (r"\input{x}", None, "is not one LaTeX command"),
        (r"\spadesuit", "Ams Symb", "is not a LaTeX package name"),
        (r"\alpha", "amssymb", "is in the catalogue and needs no package"),
        (r"\mathbb{R}", "amsmath", "needs \\usepackage{amssymb}"),
    ],
)
def test_a_typed_command_that_cannot_be_one_is_refused_with_the_reason(
    client: TestClient, latex: str, package: str, says: str
):
    pid = predict(client).json()["prediction_id"]
    response = client.post("/v1/symbols/feedback", json={"prediction_id": pid, "latex": latex, "package": package})
    assert response.status_code == 422
    assert says in response.json()["detail"]
