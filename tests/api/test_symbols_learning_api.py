"""The symbols API's learning side, in process (TestClient): labelled feedback exported in the training
format, a model baked into a folder, and a command outside the catalogue becoming a class."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api_support import ADMIN_KEY, CROSS, predict, settings_for
from farga.app import create_app
from farga.serving.deps import pseudonym
from farga.serving.store import FeedbackStore
from support import tool

pytestmark = pytest.mark.api


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
