"""Training on several processes or machines: PyTorch's DistributedDataParallel, launched by torchrun.

``farga train <component>`` trains in its own process unless ``FARGA_TRAIN_PROCESSES`` (per machine)
times ``FARGA_TRAIN_NODES`` is more than one; then it hands itself to ``torchrun``, whose elastic agent
starts the workers, and restarts all of them (up to ``FARGA_TRAIN_MAX_RESTARTS`` times) when one dies.
Restarted workers resume from the last checkpoint, so a killed worker costs at most one epoch. The
same command on every machine of a cluster, each pointing at one rendezvous address, is the
multi-machine run. Training runs on CPUs, and gloo carries the gradients: the model and its batches
never go to a GPU here, so NCCL (which all-reduces GPU tensors only) is never chosen, even on a
machine that has one.

Rank 0 alone logs to MLflow, writes checkpoints and exports the model; every rank reads the
checkpoint, so with several machines the checkpoint folder must be shared storage (docs/scale.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farga.config import Settings
from farga.errors import FargaError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Workers:
    """Which worker this process is, of how many (one, rank 0, when not launched by torchrun)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module, **options: Any) -> torch.nn.Module:
        """The model as the training loop should call it: DDP averages gradients over the workers
        (``options``: DistributedDataParallel's)."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, **options)

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over the workers (epoch losses and counts)."""
        if self.world == 1:
            return list(values)
        import torch
        import torch.distributed as dist

        total = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(total)
        return [float(v) for v in total]

    def max(self, value: float) -> float:
        """The largest ``value`` over the workers: one clock for a time budget, so that all stop at
        the same step (a worker that stopped alone would leave the others waiting for it)."""
        if self.world == 1:
            return value
        import torch
        import torch.distributed as dist

        out = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(out, op=dist.ReduceOp.MAX)
        return float(out[0])

    def from_main(self, value: str) -> str:
        """Rank 0's ``value``, on every worker: a choice that must be the same everywhere."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return str(box[0])

    def check_same(self, value: str, what: str) -> None:
        """Fail, naming ``what``, where this worker's ``value`` is not rank 0's."""
        if self.from_main(value) != value:
            raise FargaError(f"training worker {self.rank} built other {what} than worker 0")

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


ALONE = Workers()  # a process training by itself


def under_torchrun() -> bool:
    """Whether this process is a worker that torchrun started (it sets these for every worker)."""
    return "TORCHELASTIC_RUN_ID" in os.environ and "RANK" in os.environ


@contextmanager
def workers() -> Iterator[Workers]:
    """Join the process group torchrun set up (or be the only worker), and leave it at the end."""
    if not under_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        yield Workers()
        return
    import torch.distributed as dist
    from torch.distributed import PrefixStore  # type: ignore[attr-defined]
    from torch.distributed.rendezvous import rendezvous

    # torchrun's store outlives a restart, and the process group's keys (each worker's address) are the
    # same in every attempt: a restarted worker could read the address of a worker that died with the
    # previous attempt, and fail or hang connecting to it. Each attempt gets keys of its own.
    store, rank, world = next(rendezvous("env://"))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(
        "gloo",
        store=PrefixStore(f"farga/attempt-{attempt}", store),
        rank=rank,
        world_size=world,
    )
    try:
        yield Workers(rank=dist.get_rank(), world=dist.get_world_size())
    finally:
        dist.destroy_process_group()


def torchrun_command(settings: Settings, args: Sequence[str]) -> list[str]:
    """``torchrun`` running ``farga <args>`` on this machine's share of the workers."""
    farga = shutil.which("farga", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if farga is None:
        raise FargaError("the farga command is not on PATH (install the project: make setup)")
    where = (
        ["--standalone"]  # one machine: a private rendezvous on a free port
        if settings.train_nodes == 1
        else [
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={settings.train_rendezvous}",
            f"--rdzv-id={settings.train_run_id}",
        ]
    )
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={settings.train_nodes}",
        f"--nproc-per-node={settings.train_processes}",
        f"--max-restarts={settings.train_max_restarts}",
        *where,
        "--no-python",
        farga,
        *args,
    ]


def launch(settings: Settings, args: Sequence[str]) -> int | None:
    """Hand ``farga <args>`` to torchrun when the settings ask for more than one worker and this
    process is not already one of them; returns torchrun's exit status, or None to train here."""
    if settings.train_nodes * settings.train_processes == 1 or under_torchrun():
        return None
    return subprocess.run(torchrun_command(settings, args), check=False).returncode


def fingerprint(*parts: Any) -> str:
    """What a checkpoint must have been made from to be resumed: the training params and the data."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The state at the end of the last finished epoch, for a restarted run to go on from.

    Only a checkpoint of the same params and data is resumed (another run's is ignored, then
    replaced); it is removed when the run finishes, so the next run starts afresh."""

    folder: Path
    fingerprint: str
    workers: Workers = Workers()
    run_id: str | None = None
    """The MLflow run a restart goes on logging to."""

    @property
    def path(self) -> Path:
        return self.folder / "checkpoint.pt"

    def load(self) -> dict[str, Any] | None:
        import torch

        if not self.path.exists():
            return None
        state: dict[str, Any] = torch.load(self.path, map_location="cpu", weights_only=True)
        return state if state.get("fingerprint") == self.fingerprint else None

    def save(self, state: dict[str, Any]) -> None:
        """Rank 0 writes (atomically: a worker killed mid-write leaves the previous one); all wait."""
        if self.workers.main:
            import torch

            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".partial")
            torch.save({**state, "fingerprint": self.fingerprint, "run_id": self.run_id}, partial)
            os.replace(partial, self.path)
        self.workers.barrier()

    def clear(self) -> None:
        if self.workers.main:
            self.path.unlink(missing_ok=True)


@contextmanager
def training_run(
    settings: Settings,
    component: str,
    run_name: str,
    checkpoint: Checkpoint,
    resumed: dict[str, Any] | None,
    metrics: Callable[[dict[str, Any]], dict[str, float]],
    step: str,
) -> Iterator[tuple[Any, Checkpoint]]:
    """Rank 0's MLflow run of a training: the checkpoint's own run when ``resumed`` goes on from it,
    where the epochs scored before the restart that did not reach MLflow (the checkpoint is written
    first) are logged now; yields the run and the checkpoint that names it."""
    from farga import tracking

    run_id = resumed["run_id"] if resumed else None
    with tracking.run(settings, component, run_name=run_name, run_id=run_id) as active:
        import mlflow

        mlflow.set_tag("train.workers", checkpoint.workers.world)
        if resumed:
            logged = tracking.logged_steps(active.info.run_id, "val_top1")
            for row in resumed["history"]:
                if int(row[step]) not in logged:
                    mlflow.log_metrics(metrics(row), step=int(row[step]))
        yield active, replace(checkpoint, run_id=active.info.run_id)
