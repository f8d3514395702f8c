"""The whole pipeline on synthetic data, driven by the repository's own dvc.yaml, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farga.cards import parse
from support import dvc_project, sh, tiny_params

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dvc_project(tmp_path_factory.mktemp("repo"), tiny_params())


def test_dvc_repro_runs_every_stage_and_registers_a_champion(repo: Path):
    reports = repo / "reports" / "symbols"
    metrics = json.loads((reports / "metrics.json").read_text())
    for key in ("test_top1", "test_top3", "test_top5", "test_macro_f1", "test_top1_up_to_confusable"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["test_top1"] <= metrics["test_top3"] <= metrics["test_top5"]
    # the held-out writer (tiny_params: 1007) is scored apart, on drawings never trained on
    assert metrics["writer_test_writers"] == 1
    assert metrics["writer_test_n"] > 0
    assert metrics["writer_test_top1"] <= metrics["writer_test_top3"] <= metrics["writer_test_top5"]
    registry = json.loads((reports / "registry.json").read_text())
    assert registry["promoted"]
    assert registry["aliases"]["champion"] == registry["version"] == "1"
    for name in ("confusion.png", "families.png", "per_class.csv", "validation.json"):
        assert (reports / name).stat().st_size > 0
    for part in ("pool", "writers"):  # each specialist's own curves
        assert (reports / part / "learning_curves.png").stat().st_size > 0
    assert (repo / "dvc.lock").exists()
    assert (repo / "models" / "symbols" / "model.onnx").exists()


def test_cards_are_generated_from_the_run(repo: Path):
    reports = repo / "reports" / "symbols"
    metrics = json.loads((reports / "metrics.json").read_text())
    header, body = parse((reports / "model_card.md").read_text())
    reported = header["model-index"][0]["results"][0]["metrics"][0]["value"]
    assert reported == round(metrics["test_top1"], 4)
    unseen = header["model-index"][0]["results"][0]["metrics"][-1]
    assert unseen["name"] == "top-1 accuracy, writers never trained on"
    assert unseen["value"] == round(metrics["writer_test_top1"], 4)
    assert "Writers it never saw (1 identified writers" in body
    assert "SYNTHETIC" in body  # a model trained on synthetic data says so
    dheader, dbody = parse((reports / "dataset_card.md").read_text())
    assert dheader["task_categories"] == ["image-classification"]
    assert "checks, all passed" in dbody


def ran(out: str) -> list[str]:
    return [line for line in out.splitlines() if "Running stage" in line]


def test_an_unchanged_pipeline_is_a_no_op(repo: Path):
    out = sh("dvc", "repro", cwd=repo)
    # the feedback export too: it is refreshed by `farga ops retrain`, not by every repro
    assert ran(out) == []
    assert "Stage 'symbols-train@pool' didn't change, skipping" in out


def test_a_fresh_clone_pulls_the_results_and_reruns_nothing(repo: Path, tmp_path: Path):
    # one clone pushes its data and models to a shared remote (a folder here; S3 in production,
    # docs/scale.md), commits the lock and the small reports; another clone pulls and has it all
    remote = tmp_path / "remote"
    sh("dvc", "remote", "add", "--default", "shared", str(remote), cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "the pipeline's results", cwd=repo)
    assert "files pushed" in sh("dvc", "push", cwd=repo)
    assert any(remote.rglob("*")), "the remote is empty after dvc push"
    clone = tmp_path / "clone"
    sh("git", "clone", "-q", str(repo), str(clone), cwd=tmp_path)
    assert not (clone / "models" / "symbols" / "model.onnx").exists()
    sh("dvc", "pull", cwd=clone)
    for component in ("symbols", "fillmask"):
        model = clone / "models" / component / "model.onnx"
        assert model.read_bytes() == (repo / "models" / component / "model.onnx").read_bytes()
    out = sh("dvc", "repro", cwd=clone, env={"FARGA_ROOT": str(clone)})
    assert ran(out) == [], out
    assert "Data and pipelines are up to date" in sh("dvc", "status", cwd=clone)


def test_mlflow_holds_the_run_metrics_and_artifacts(repo: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    run_id = json.loads((repo / "models" / "symbols" / "run.json").read_text())["run_id"]
    run = mlflow.get_run(run_id)
    assert "test_top1" in run.data.metrics
    assert "val_top1" in run.data.metrics
    assert run.data.tags["data.source"] == "synthetic"
    # each specialist's own run: one point per epoch
    part_run = json.loads((repo / "models" / "symbols-parts" / "pool" / "run.json").read_text())["run_id"]
    assert len(mlflow.MlflowClient().get_metric_history(part_run, "val_top1")) == 2
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "evaluation")}
    assert "evaluation/confusion.png" in artifacts


def test_a_param_change_reruns_only_what_depends_on_it(repo: Path):
    out = sh("dvc", "exp", "run", "-S", "symbols.register.margin=0.5", cwd=repo)
    assert "Running stage 'symbols-register'" in out
    assert "Running stage 'symbols-train" not in out
    assert "Running stage 'symbols-join'" not in out
    registry = json.loads((repo / "reports" / "symbols" / "registry.json").read_text())
    assert registry["version"] == "2"
    assert not registry["promoted"]
    shown = sh("dvc", "metrics", "show", "--json", cwd=repo)
    assert "test_top1" in shown


def test_retrain_without_new_feedback_changes_nothing(repo: Path):
    out = sh("farga", "ops", "retrain", "symbols", cwd=repo, env={"FARGA_ROOT": str(repo)})
    result = json.loads(out[out.index("{") : out.rindex("}") + 1])
    assert result["retrained"] is False
    assert result["new_accepted_feedback"] == 0
    assert "no accepted feedback since champion v1" in result["reason"]


def test_the_fillmask_pipeline_registers_a_champion_with_cards(repo: Path):
    reports = repo / "reports" / "fillmask"
    metrics = json.loads((reports / "metrics.json").read_text())
    for split in ("val", "unseen"):
        assert set(metrics[split]["models"]) == {"unigram", "trigram", "transformer", "served"}
        assert 0 < metrics[f"{split}_top1"] <= metrics[f"{split}_top5"] <= 1
    registry = json.loads((reports / "registry.json").read_text())
    assert registry["promoted"]
    assert registry["model"] == "fillmask"
    for name in ("tokenizer.json", "words.json", "ngram.npz", "model.onnx", "run.json"):
        assert (repo / "models" / "fillmask" / name).stat().st_size > 0
    header, body = parse((reports / "model_card.md").read_text())
    assert header["pipeline_tag"] == "fill-mask"
    assert header["language"] == ["ca"]
    scores = {m["name"]: m["value"] for m in header["model-index"][0]["results"][0]["metrics"]}
    assert scores["top-1 accuracy (held-out sources)"] == round(metrics["unseen_top1"], 4)
    assert scores["top-1 accuracy (validation)"] == round(metrics["val_top1"], 4)
    for predictor in ("unigram", "trigram", "transformer", "served"):
        assert f"| {predictor} |" in body
    dheader, dbody = parse((reports / "dataset_card.md").read_text())
    assert dheader["task_categories"] == ["fill-mask"]
    assert "synthetic.txt.gz" in dbody
    assert "Held out, whole: synthetic_unseen." in dbody
    assert "checks, all passed" in dbody


def test_the_fillmask_run_is_in_mlflow(repo: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    run_id = json.loads((repo / "models" / "fillmask" / "run.json").read_text())["run_id"]
    run = mlflow.get_run(run_id)
    logged = {"val_top1", "unseen_top1", "val.models.trigram.top1", "unseen.models.trigram.top1", "best_dev_top1"}
    assert logged | {"train_energy_kwh"} <= set(run.data.metrics)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "plots")}
    assert {"plots/comparison.png", "plots/learning_curves.png"} <= artifacts
