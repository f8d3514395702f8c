"""`farga tune`: two workers share one Optuna study on the machine's PostgreSQL, trials are pruned and
logged to MLflow as nested runs, and the best trial comes back as a DVC experiment the pipeline runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from support import dvc_project, postgres_database, sh, tiny_params, venv_env

pytestmark = pytest.mark.pipeline

TRIALS = 10


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    params = tiny_params()
    # a validation split of about a hundred drawings, not a dozen: scores that tie rarely, so the median
    # pruner has something to tell apart after the first epoch
    params["symbols"]["data"]["synthetic"]["samples_per_class"] = 60
    params["symbols"]["data"]["val_fraction"] = 0.15
    params["symbols"]["contract"]["split_share"]["train"] = [0.6, 0.9]  # 15% validation beside a held-out writer
    params["symbols"]["tune"] = {
        "trials": TRIALS,
        "pruner": "median",
        "startup_trials": 1,
        "warmup_epochs": 0,
        # a range wide enough that some trials are plainly worse after one epoch, and are pruned
        "space": {"train.lr": {"low": 1e-5, "high": 0.05, "log": True}, "train.model.hidden": {"choices": [16, 32]}},
    }
    return dvc_project(tmp_path_factory.mktemp("tuned"), params, None, "symbols-register")  # fillmask plays no part


def tune(repo: Path, storage: str, then: str = "none", *extra: str) -> subprocess.Popen[bytes]:
    env = venv_env({"FARGA_ROOT": str(repo), "FARGA_TUNE_STORAGE": storage})
    log = (repo / f"tune-{then}.log").open("ab")
    return subprocess.Popen(
        ["farga", "tune", "symbols", "--study", "shared", "--then", then, *extra],
        cwd=repo,
        env=env,
        stdout=log,
        stderr=log,
    )


def test_two_workers_share_a_study_prune_log_to_mlflow_and_hand_the_best_to_dvc(repo: Path):
    import mlflow
    import optuna

    with postgres_database() as storage:
        workers = [tune(repo, storage), tune(repo, storage, "none", "--out", str(repo / "tune-report.json"))]
        for worker in workers:
            assert worker.wait(timeout=900) == 0, (repo / "tune-none.log").read_text()[-3000:]
        study = optuna.load_study(study_name="shared", storage=storage)
        trials = study.get_trials()
        # one study, its trials handed out by the database: each number once, each run by one worker (below)
        assert TRIALS <= len(trials) <= TRIALS + 1
        assert sorted(t.number for t in trials) == list(range(len(trials)))
        states = [t.state for t in trials]
        assert optuna.trial.TrialState.PRUNED in states, states
        assert optuna.trial.TrialState.COMPLETE in states

        # every trial is an MLflow run nested under its worker's run; both workers took part
        mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
        runs = mlflow.search_runs(
            experiment_names=["symbols"], filter_string="tags.`optuna.study` = 'shared'", output_format="list"
        )
        trial_runs = [r for r in runs if "optuna.trial" in r.data.tags]
        assert sorted(int(r.data.tags["optuna.trial"]) for r in trial_runs) == list(range(len(trials)))
        parents = {r.info.run_id for r in runs if "optuna.trial" not in r.data.tags}
        assert len(parents) == 2
        assert {r.data.tags["mlflow.parentRunId"] for r in trial_runs} == parents
        pruned = {str(t.number) for t in trials if t.state == optuna.trial.TrialState.PRUNED}
        assert {r.data.tags["optuna.trial"] for r in trial_runs if r.data.tags["optuna.state"] == "PRUNED"} == pruned
        # a pruned trial was stopped on purpose (KILLED), not FAILED; a complete one FINISHED
        ended = {r.data.tags["optuna.trial"]: r.info.status for r in trial_runs}
        assert {ended[n] for n in pruned} == {"KILLED"}
        assert {s for n, s in ended.items() if n not in pruned} == {"FINISHED"}
        # each run trained what the study proposed for its number
        proposed = {str(t.number): t.params for t in trials}
        assert all(
            float(r.data.params["train.lr"]) == proposed[r.data.tags["optuna.trial"]]["train.lr"] for r in trial_runs
        )
        # the worker given --out wrote the study's report (reports/scale/tune-*.json is made so)
        written = json.loads((repo / "tune-report.json").read_text())
        assert written["command"].startswith("farga tune symbols --study shared")
        assert [t["number"] for t in written["trials"]] == list(range(len(trials)))
        assert sum(written["result"]["trials"].values()) == len(trials)  # (the other worker's last may be running)

        # a third worker joins the full study: it runs no trial, and hands the best to the pipeline
        handed = tune(repo, storage, then="run")
        assert handed.wait(timeout=900) == 0, (repo / "tune-run.log").read_text()[-3000:]
        assert len(optuna.load_study(study_name="shared", storage=storage).get_trials()) == len(trials)
        best = study.best_trial.params
    experiments = sh("dvc", "exp", "show", "--json", cwd=repo)
    assert "tune-shared" in experiments
    applied = yaml.safe_load((repo / "params.yaml").read_text())["symbols"]["train"]
    assert applied["lr"] == pytest.approx(best["train.lr"])
    assert applied["model"]["hidden"] == best["train.model.hidden"]
    # the pipeline, not the tuner, trained and registered it
    run = json.loads((repo / "models" / "symbols" / "run.json").read_text())
    assert mlflow.get_run(run["run_id"]).data.params["train.lr"] == str(applied["lr"])
    assert json.loads((repo / "reports" / "symbols" / "registry.json").read_text())["version"] == "2"
