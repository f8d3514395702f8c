"""Training on two processes under torchrun (DistributedDataParallel, gloo), as `farga train` runs it
with FARGA_TRAIN_PROCESSES=2, for each component: the same model as one process within a stated
tolerance at the same global batch, and a worker killed with SIGKILL mid-run ends in a finished model
resumed from its checkpoint, every epoch logged to MLflow once."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from support import config_of, make_ctx, venv_env

pytestmark = pytest.mark.model

# The tolerance, at the same global batch on the small synthetic sets. symbols: the two runs differ only
# in batch-norm statistics (per half batch) and augmentation draws (per worker); fillmask: in the rivals
# each worker draws for its sampled softmax, and a last batch of one window is left out.
TOP1_TOLERANCE = 0.10
LOSS_TOLERANCE = 0.20  # relative, the last epoch's validation loss
SCORE = {"symbols": "val_top1", "fillmask": "dev_top1"}  # run.json's best validation top-1
# symbols trains in parts (one network per specialist, then joined): here one part, the first
RUN = {"symbols": "models/symbols-parts/pool/run.json", "fillmask": "models/fillmask/run.json"}
HISTORY = {"symbols": "reports/symbols/pool/history.json", "fillmask": "reports/fillmask/history.json"}
CHECKPOINT = {"symbols": "models/checkpoints/symbols/pool", "fillmask": "models/checkpoints/fillmask"}
LEARNT = 0.8  # each run's last validation loss is under this share of its first


def project(prepared_project: Path, dest: Path, component: str, epochs: int) -> Path:
    shutil.copytree(prepared_project, dest)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    # two workers on two cores; fillmask's time budget far off, so that steps, not seconds, set the schedule
    params[component]["train"].update(
        epochs=epochs, threads=1, **({"max_minutes": 30} if component == "fillmask" else {})
    )
    if component == "symbols":  # a yardstick finer than the tolerance: 87 validation drawings, not 12
        params["symbols"]["data"]["val_fraction"] = 0.3
        params["symbols"]["train"]["specialists"] = {"pool": params["symbols"]["train"]["specialists"]["pool"]}
    (dest / "params.yaml").write_text(yaml.safe_dump(params))
    if component == "symbols":
        from farga.pipeline import run_stage

        run_stage("prepare", make_ctx(dest, params, "symbols"))
    return dest


def env(root: Path, processes: int) -> dict[str, str]:
    return venv_env(
        {
            "FARGA_ROOT": str(root),
            "FARGA_TRAIN_PROCESSES": str(processes),
            "FARGA_TRAIN_MAX_RESTARTS": "2",
            "FARGA_CHECKPOINT_MINUTES": "0.01",  # fillmask: within an epoch too, every 0.6 s
        }
    )


def train(root: Path, component: str, processes: int) -> subprocess.Popen[bytes]:
    # the log goes to a file: a pipe nobody reads while the run goes on would fill and stall it
    with (root / "train.log").open("wb") as log:
        return subprocess.Popen(
            ["farga", "train", component], cwd=root, env=env(root, processes), stdout=log, stderr=subprocess.STDOUT
        )


def finished(
    proc: subprocess.Popen[bytes], root: Path, component: str
) -> tuple[dict[str, object], list[dict[str, float]], str]:
    proc.wait(timeout=600)
    log = (root / "train.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-4000:]
    run = json.loads((root / RUN[component]).read_text())
    history = json.loads((root / HISTORY[component]).read_text())
    return run, history, log


@pytest.mark.parametrize("component", ["symbols", "fillmask"])
def test_two_workers_reach_the_single_process_result(component: str, prepared_project: Path, tmp_path: Path):
    one, two = (project(prepared_project, tmp_path / name, component, epochs=6) for name in ("one", "two"))
    single, single_history, _ = finished(train(one, component, 1), one, component)
    double, double_history, _ = finished(train(two, component, 2), two, component)
    assert single["workers"] == 1
    assert double["workers"] == 2
    assert len(single_history) == len(double_history) == 6
    # both learnt (two runs that learn nothing agree too): validation loss well down from the first epoch
    for history in (single_history, double_history):
        assert history[-1]["val_loss"] < LEARNT * history[0]["val_loss"], [h["val_loss"] for h in history]
    assert abs(float(single[SCORE[component]]) - float(double[SCORE[component]])) <= TOP1_TOLERANCE  # type: ignore[arg-type]
    a, b = single_history[-1]["val_loss"], double_history[-1]["val_loss"]
    assert abs(a - b) <= LOSS_TOLERANCE * a, (a, b)
    assert (two / "models" / component / "model.onnx").stat().st_size > 0
    assert not (two / CHECKPOINT[component] / "checkpoint.pt").exists()  # cleared at the end


@pytest.mark.parametrize(("component", "epochs"), [("symbols", 40), ("fillmask", 12)])
def test_a_killed_worker_is_restarted_and_resumes_from_its_checkpoint(
    component: str, epochs: int, prepared_project: Path, tmp_path: Path
):
    import mlflow

    root = project(prepared_project, tmp_path / "killed", component, epochs=epochs)
    checkpoint = root / CHECKPOINT[component] / "checkpoint.pt"
    proc = train(root, component, 2)
    deadline = time.monotonic() + 300
    while not checkpoint.exists():
        assert proc.poll() is None, (root / "train.log").read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
        time.sleep(0.1)
    helpers = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.environ().get("RANK") == "1"]
    assert len(helpers) == 1, helpers
    helpers[0].kill()  # SIGKILL: no handler runs, no clean exit
    run, history, log = finished(proc, root, component)
    resumed = run["resumed_after_epoch"] if component == "symbols" else run["resumed_at_step"]
    assert resumed >= 1, log[-4000:]  # type: ignore[operator]
    assert "resumed from the checkpoint" in log
    assert [row["epoch"] for row in history] == list(range(1, epochs + 1))
    assert (root / "models" / component / "model.onnx").stat().st_size > 0
    assert not checkpoint.exists()
    # the restarted rank 0 went on logging to the same MLflow run: one run, every epoch once
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    steps = sorted(m.step for m in client.get_metric_history(str(run["run_id"]), "val_top1"))
    assert steps == sorted(int(row.get("step", row["epoch"])) for row in history)


class Killed(Exception):
    pass


def test_fillmask_resumes_mid_epoch_on_the_batches_it_would_have_trained_on(prepared_project: Path, tmp_path: Path):
    """In one process, a run stopped right after a checkpoint in the middle of an epoch and resumed
    from it ends where the uninterrupted run ends: the restart replays the epoch's draws up to the
    checkpoint. The full softmax and no dropout keep torch's own generator out of training, so the
    two runs differ only by float rounding."""
    import dataclasses

    import torch

    from farga.distributed import Checkpoint
    from farga.fillmask.fit import fit
    from farga.fillmask.prepare import load_split
    from farga.fillmask.scoring import examples
    from farga.fillmask.train import build
    from farga.reproducibility import seed_everything

    train = config_of(prepared_project, "fillmask").train
    cfg = train.model_copy(
        update={
            "epochs": 2,
            "max_minutes": 30,
            "sampled_softmax": 0,
            "model": train.model.model_copy(update={"dropout": 0.0}),
        }
    )
    prepared = prepared_project / "data" / "prepared" / "fillmask"
    seed_everything(cfg.seed, 1)
    built = build(load_split(prepared, "train"), cfg)
    dev = examples(load_split(prepared, "dev"), 50, 1)
    initial = {k: v.clone() for k, v in built.model.state_dict().items()}

    def run(checkpoint: Checkpoint | None) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
        built.model.load_state_dict(initial)
        return fit(built.model, built.data, dev, built.cache, built.vocab, cfg, "fp32", None, checkpoint, 0.0)

    @dataclasses.dataclass(frozen=True)
    class DiesAfterSaving(Checkpoint):
        def save(self, state: dict[str, object]) -> None:
            super().save(state)
            if state["epoch"] == 2 and state["position"] == 4:  # four batches into the second epoch
                raise Killed

    whole_state, whole_history = run(None)
    folder = tmp_path / "checkpoints"
    with pytest.raises(Killed):
        run(DiesAfterSaving(folder, "same run"))
    resumed_state, resumed_history = run(Checkpoint(folder, "same run"))
    assert [r["step"] for r in resumed_history] == [r["step"] for r in whole_history]
    assert [r["val_loss"] for r in resumed_history] == pytest.approx([r["val_loss"] for r in whole_history], abs=1e-3)
    assert max(float((whole_state[k] - resumed_state[k]).abs().max()) for k in whole_state) < 1e-3
