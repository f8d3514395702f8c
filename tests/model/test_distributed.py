"""Training on two processes under torchrun (DistributedDataParallel, gloo), as `farga train` runs it
with FARGA_TRAIN_PROCESSES=2: the same model as one process within a stated tolerance at the same
global batch, and a worker killed with SIGKILL mid-run ends in a finished model resumed from its
checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from support import venv_env

pytestmark = pytest.mark.model

# The tolerance, at the same global batch on the small synthetic set: the two runs differ only in
# batch-norm statistics (per half batch) and augmentation draws (per worker).
TOP1_TOLERANCE = 0.10
LOSS_TOLERANCE = 0.20  # relative, the last epoch's validation loss


def project(prepared_project: Path, dest: Path, epochs: int) -> Path:
    shutil.copytree(prepared_project, dest)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["symbols"]["train"].update(epochs=epochs, threads=1)  # two workers on two cores
    (dest / "params.yaml").write_text(yaml.safe_dump(params))
    return dest


def env(root: Path, processes: int) -> dict[str, str]:
    return venv_env({"FARGA_ROOT": str(root), "FARGA_TRAIN_PROCESSES": str(processes), "FARGA_TRAIN_MAX_RESTARTS": "2"})


def train(root: Path, processes: int) -> subprocess.Popen[bytes]:
    # the log goes to a file: a pipe nobody reads while the run goes on would fill and stall it
    with (root / "train.log").open("wb") as log:
        return subprocess.Popen(
            ["farga", "train", "symbols"], cwd=root, env=env(root, processes), stdout=log, stderr=subprocess.STDOUT
        )


def finished(proc: subprocess.Popen[bytes], root: Path) -> tuple[dict[str, object], list[dict[str, float]], str]:
    proc.wait(timeout=600)
    log = (root / "train.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-4000:]
    run = json.loads((root / "models" / "symbols" / "run.json").read_text())
    history = json.loads((root / "reports" / "symbols" / "history.json").read_text())
    return run, history, log


def test_two_workers_reach_the_single_process_result(prepared_project: Path, tmp_path: Path):
    one, two = (project(prepared_project, tmp_path / name, epochs=6) for name in ("one", "two"))
    single, single_history, _ = finished(train(one, 1), one)
    double, double_history, _ = finished(train(two, 2), two)
    assert single["workers"] == 1
    assert double["workers"] == 2
    assert len(single_history) == len(double_history) == 6
    assert abs(float(single["val_top1"]) - float(double["val_top1"])) <= TOP1_TOLERANCE  # type: ignore[arg-type]
    a, b = single_history[-1]["val_loss"], double_history[-1]["val_loss"]
    assert abs(a - b) <= LOSS_TOLERANCE * a, (a, b)
    assert (two / "models" / "symbols" / "model.onnx").stat().st_size > 0
    assert not (two / "models" / "checkpoints" / "symbols" / "checkpoint.pt").exists()  # cleared at the end


def test_a_killed_worker_is_restarted_and_resumes_from_its_checkpoint(prepared_project: Path, tmp_path: Path):
    import mlflow

    root = project(prepared_project, tmp_path / "killed", epochs=40)
    checkpoint = root / "models" / "checkpoints" / "symbols" / "checkpoint.pt"
    proc = train(root, 2)
    deadline = time.monotonic() + 300
    while not checkpoint.exists():
        assert proc.poll() is None, (root / "train.log").read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
        time.sleep(0.1)
    helpers = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.environ().get("RANK") == "1"]
    assert len(helpers) == 1, helpers
    helpers[0].kill()  # SIGKILL: no handler runs, no clean exit
    run, history, log = finished(proc, root)
    assert run["resumed_after_epoch"] >= 1, log[-4000:]  # type: ignore[operator]
    assert "resumed from the checkpoint of epoch" in log
    assert [row["epoch"] for row in history] == list(range(1, 41))
    assert (root / "models" / "symbols" / "model.onnx").stat().st_size > 0
    assert not checkpoint.exists()
    # the restarted rank 0 went on logging to the same MLflow run: one run, every epoch once
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    steps = sorted(m.step for m in client.get_metric_history(str(run["run_id"]), "val_top1"))
    assert steps == list(range(1, 41))
