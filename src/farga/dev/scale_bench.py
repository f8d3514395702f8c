"""``farga dev bench-scale``: what one more process or one more replica buys on this machine.

Training: the component's network on its generated data, as it asks (``components.ScalesOut``:
anyone can rerun it without the real data set), one process with every core against as many DDP
processes as cores, one thread each, at the same global batch. Serving: ``wrk`` through nginx
(deploy/nginx) to one replica of one worker, one replica with a worker per core, and two replicas of
one worker; one ONNX Runtime thread each.
On a machine with two cores scaling out may not pay: the figures say whether it does, and
docs/scale.md says what the same commands do on more machines.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import yaml

from farga import components
from farga.errors import FargaError
from farga.loadgen import sample_request
from farga.loadtest import wrk
from farga.serving.balancer import TEMPLATE, nginx
from farga.serving.process import ServerProcess

START, END = "<!-- farga dev bench-scale: generated -->", "<!-- /farga dev bench-scale -->"


@dataclass(frozen=True)
class TrainingRate:
    processes: int
    threads_each: int
    images_per_s: float
    val_top1: float


@dataclass(frozen=True)
class ServingRate:
    replicas: int
    workers: int
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int


def scaler(name: str) -> components.ScalesOut:
    component = components.get(name)
    if not isinstance(component, components.ScalesOut) or not isinstance(component, components.GeneratesLoad):
        raise components.lacking(name, "scaling benchmark (farga dev bench-scale)")
    return component


def set_section(root: Path, params_file: Path, name: str, epochs: int, threads: int) -> None:
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params[name] = scaler(name).scale_params(params[name], epochs, threads)
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")


def synthetic_project(name: str, root: Path, params_file: Path, epochs: int, threads: int) -> Path:
    """A project with the component's generated data prepared, as its scaling run asks."""
    from farga.config import Settings
    from farga.pipeline import run_stage

    set_section(root, params_file, name, epochs, threads)
    ctx = components.context(name, Settings(root=root))
    for stage in ("fetch", "prepare", "validate"):
        run_stage(stage, ctx)
    return root


def training(name: str, base: Path, cores: int, epochs: int) -> list[TrainingRate]:
    rates = []
    for processes in (1, cores):
        root = base.parent / f"{base.name}-p{processes}"
        shutil.copytree(base, root)
        threads = max(1, cores // processes)
        set_section(root, root / "params.yaml", name, epochs, threads)
        env = {**os.environ, "FARGA_ROOT": str(root), "FARGA_TRAIN_PROCESSES": str(processes)}
        farga = str(Path(sys.executable).with_name("farga"))
        done = subprocess.run([farga, "train", name], cwd=root, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise FargaError(f"training with {processes} processes failed:\n{done.stderr[-3000:]}")
        rate, best = scaler(name).training_rate(root)
        rates.append(TrainingRate(processes, threads, rate, best))
    return rates


def serving(name: str, model_dir: Path, work: Path, seconds: int, connections: int) -> list[ServingRate]:
    template = Path.cwd() / TEMPLATE
    if not template.exists():
        raise FargaError(f"{TEMPLATE} is missing: run from the repository root")
    env = {f"FARGA_MODEL_DIR_{name.upper()}": str(model_dir), "FARGA_COMPONENTS": name}
    rates = []
    # one replica on one core, the same on every core (its workers), then one replica per core
    for count, workers in ((1, 1), (1, 2), (2, 1)):
        with ExitStack() as stack:
            replicas = []
            for i in range(count):
                root = work / f"serve-{count}x{workers}-{i}"  # each its own SQLite store: no shared-file contention
                root.mkdir(parents=True)
                replica = ServerProcess(root, workers=workers, env=env).start(timeout=120)
                stack.callback(replica.stop)
                replicas.append(replica)
            balancer = nginx(template, work / f"nginx-{count}x{workers}", [f"127.0.0.1:{r.port}" for r in replicas])
            balancer.start(timeout=30)
            stack.callback(balancer.stop)
            body = sample_request(name)
            measured = wrk(f"{balancer.url}/v1/{name}/predict", body, "application/json", connections, seconds, work)
            rates.append(
                ServingRate(
                    count, workers, measured["rps"], measured["p50_ms"], measured["p99_ms"], measured["non_2xx"]
                )
            )
    return rates


def run(name: str, params_file: Path, seconds: int, epochs: int) -> tuple[list[TrainingRate], list[ServingRate]]:
    if shutil.which("wrk") is None:
        raise FargaError("wrk is not installed: `apt-get install wrk` (make system-deps does it)")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="farga-bench-scale-") as tmp:
        base = synthetic_project(name, Path(tmp) / "data", params_file, epochs, cores)
        train = training(name, base, cores, epochs)
        serve = serving(name, Path(tmp) / "data-p1" / "models" / name, Path(tmp) / "serve", seconds, 16)
    return train, serve


def markdown(run: components.ScaleRun, train: list[TrainingRate], serve: list[ServingRate], command: str) -> str:
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    lines = [
        START,
        f"Measured by `{command}` on {machine}.",
        "",
        f"| training ({run.what}) | {run.unit} | {run.score} |",
        "|---|---|---|",
        *(
            f"| {t.processes} process{'es' if t.processes > 1 else ''} x {t.threads_each} thread"
            f"{'s' if t.threads_each > 1 else ''} | {t.images_per_s:,.0f} | {t.val_top1:.1%} |"
            for t in train
        ),
        "",
        f"| serving through nginx (wrk, 16 connections, {run.request}) | requests/s | p50 ms | p99 ms | failed |",
        "|---|---|---|---|---|",
        *(
            f"| {s.replicas} replica{'s' if s.replicas > 1 else ''} x {s.workers} worker{'s' if s.workers > 1 else ''}"
            f" | {s.rps:,.0f} | {s.p50_ms:.1f} | "
            f"{s.p99_ms:.1f} | {s.failed} |"
            for s in serve
        ),
        END,
    ]
    return "\n".join(lines)


def write_into(doc: Path, section: str) -> None:
    """Replace the generated section of ``doc`` (between its markers) with ``section``."""
    text = doc.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise FargaError(f"{doc} has no generated section ({START} ... {END})")
    before, rest = text.split(START, 1)
    doc.write_text(before + section + rest.split(END, 1)[1], encoding="utf-8")
