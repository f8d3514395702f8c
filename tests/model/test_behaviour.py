"""Behavioural tests (CheckList): a sound model passes them, a broken one is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from typer.testing import CliRunner

from farga.checklist import Case, summarise
from farga.cli import app
from farga.params import Thresholds
from support import make_ctx, tiny_params

pytestmark = pytest.mark.model

# the directional pairs, and lookalike-free others, so every test family has cases
CLASSES = [r"\rightarrow", r"\leftarrow", r"\uparrow", r"\downarrow", r"\subset", r"\supset", "<", ">"]
CLASSES += ["A", "2", r"\alpha", r"\sum", r"\infty", "+", r"\int", r"\pi"]
THRESHOLDS = Thresholds(minimum_functionality=0.7, invariance=0.9, directional=0.7)


@pytest.fixture(scope="module")
def behaviour_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained on synthetic renders of CLASSES: a sound model, in about half a minute."""
    from farga.pipeline import run_stage

    root = tmp_path_factory.mktemp("behaviour")
    params = tiny_params()
    sym = params["symbols"]
    sym["data"]["synthetic"] = {"symbols": CLASSES, "samples_per_class": 60, "writers": 4, "seed": 5}
    sym["train"].update(epochs=8, batch_size=32)
    sym["train"]["model"].update(channels=[16, 32, 64], hidden=128)
    sym["behaviour"]["thresholds"] = THRESHOLDS.model_dump()
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    ctx = make_ctx(root, params)
    for stage in ("fetch", "prepare", "validate", "train"):
        run_stage(stage, ctx)
    return root


def run_test_model(root: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict]:
    monkeypatch.chdir(root)
    monkeypatch.setenv("FARGA_ROOT", str(root))
    result = CliRunner().invoke(app, ["test-model", "symbols", "--model", str(model)])
    return result.exit_code, json.loads((root / "reports/symbols/behaviour.json").read_text())


def test_a_sound_model_passes_every_family(behaviour_project: Path, monkeypatch: pytest.MonkeyPatch):
    code, report = run_test_model(behaviour_project, behaviour_project / "models/symbols", monkeypatch)
    families = report["families"]
    assert code == 0, families
    assert report["passed"]
    assert all(f["n"] > 0 for f in families.values())
    assert set(report["slices"]["directional"]) == {"arrow", "relation"}
    assert any(t.startswith("directional: \\rightarrow rotated 180 degrees") for t in report["tests"])


def test_a_model_with_shuffled_labels_is_caught(behaviour_project: Path, tmp_path: Path, monkeypatch):
    """The same network with its label map permuted: accurate-looking scores, wrong answers."""
    broken = tmp_path / "broken"
    shutil.copytree(behaviour_project / "models/symbols", broken)
    proto = onnx.load(str(broken / "model.onnx"))
    props = {p.key: p for p in proto.metadata_props}
    labels = json.loads(props["farga.labels"].value)
    order = np.random.default_rng(0).permutation(len(labels))
    shuffled = [{**labels[int(j)], "index": i} for i, j in enumerate(order)]
    props["farga.labels"].value = json.dumps(shuffled)
    onnx.save(proto, str(broken / "model.onnx"))

    code, report = run_test_model(behaviour_project, broken, monkeypatch)
    assert code == 1
    assert not report["passed"]
    assert not report["families"]["minimum_functionality"]["passed"]
    assert report["families"]["minimum_functionality"]["pass_rate"] < 0.5


def test_a_family_without_cases_or_threshold_cannot_pass():
    cases = [Case("invariance", "invariance: x", "latin", "A", True, "")]
    summary = summarise(cases, THRESHOLDS)
    assert summary["families"]["invariance"]["passed"]
    assert not summary["families"]["directional"]["passed"]  # no case: no evidence
    assert not summary["passed"]
    with pytest.raises(ValueError, match="directional"):  # a family without a threshold: params refuse it
        Thresholds.model_validate({"invariance": 0.9, "minimum_functionality": 0.7})
    with pytest.raises(ValueError, match="unknown test families"):
        summarise([Case("vibes", "v", "s", "A", True, "")], THRESHOLDS)


def test_a_missing_model_is_a_clear_error(behaviour_project: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(behaviour_project)
    monkeypatch.setenv("FARGA_ROOT", str(behaviour_project))
    result = CliRunner().invoke(app, ["test-model", "symbols", "--model", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no model at" in result.output
