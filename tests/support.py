"""Helpers shared by the tests: the repository root, and the shrunk params used everywhere."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from farga import components
from farga.config import Settings, StageContext, validated_params

REPO = Path(__file__).resolve().parents[1]

SMALL = {"classes": 12, "samples_per_class": 30, "writers": 8, "seed": 3}


def tiny_params() -> dict[str, Any]:
    """The repository's params.yaml, shrunk to seconds: synthetic data, a small net, two epochs."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    sym = params["symbols"]
    sym["data"]["source"] = "synthetic"
    sym["data"]["synthetic"] = dict(SMALL)
    # one of the 8 writers (1007) held out: the writer-disjoint path runs in every test
    sym["data"]["writer_holdout"]["fraction"]["synthetic"] = 0.05
    sym["contract"]["min_train_per_class"] = 10
    sym["contract"]["split_share"]["writer_test"] = [0.0, 0.2]  # one writer of 8 is 1/8 of the data
    sym["train"].update(epochs=2, batch_size=32)
    # a new symbol within a test's traffic: 4 drawings, at most 3 of them from one client, 2 clients, in a day
    sym["feedback"]["new_symbols"] = {"min_drawings": 4, "min_clients": 2, "min_days": 1, "max_client_share": 0.75}
    sym["train"]["model"].update(channels=[8, 16, 32], hidden=32)
    fm = params["fillmask"]
    fm["data"]["source"] = "synthetic"
    fm["data"]["synthetic"] = {"sentences": 1500, "unseen_sentences": 500, "seed": 7}
    fm["contract"]["min_train_words"] = 1000
    fm["train"].update(epochs=3, max_minutes=1, batch_tokens=1024, max_tokens=32, lr=0.003)
    fm["train"]["tokenizer"]["vocab_size"] = 300
    fm["train"]["model"].update(dim=32, layers=1, heads=2, ffn=64, dropout=0.0)
    fm["evaluate"].update(positions=200, dev_positions=100, unseen_positions=200, unseen_dev_positions=100)
    # a test set of a few hundred items, where one answer is a third of a point or more: the int8 bound
    # is tested with plain numbers (tests/code/test_registry.py), and here lets the pipelines through
    for section in (sym, fm):
        section["register"]["int8"]["max_loss"] = 0.05
    return params


def make_ctx(root: Path, params: dict[str, Any], component: str = "symbols") -> StageContext[Any]:
    model = components.get(component).params
    return StageContext(component, Settings(root=root), validated_params(model, params, component))


def tool(name: str, hint: str) -> str:
    """A command the test needs; CI installs it (make system-deps), elsewhere its absence is a named skip."""
    import os
    import shutil
    import sys

    import pytest

    bin_dir = Path(sys.executable).parent
    found = shutil.which(name) or (str(bin_dir / name) if (bin_dir / name).exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {name}: {hint}")
        pytest.skip(f"{name} is not installed: {hint}")
    return found


def venv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment plus ``extra``, with this virtual environment's tools first on PATH (unless ``extra``
    sets a PATH of its own: another environment's tools first, say)."""
    import os
    import sys

    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return {**os.environ, "PATH": path, **(extra or {})}


def sh(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    """Run a command with this virtual environment's tools first on PATH; fail the test on a non-zero exit."""
    import subprocess

    done = subprocess.run(
        args, cwd=cwd, env=venv_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def dvc_project(root: Path, params: dict[str, Any], env: dict[str, str] | None = None, *targets: str) -> Path:
    """A git + DVC checkout of the project's pipeline with ``params``, as a user has it; runs ``dvc repro``
    of ``targets`` (every stage when none), with ``env`` added to the environment (a tracking server, say)."""
    import shutil

    shutil.copy(REPO / "dvc.yaml", root)
    shutil.copy(REPO / ".gitignore", root)  # data, models and the embedded stores stay out of git
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    sh("git", "init", "-q", cwd=root)
    sh("git", "config", "user.email", "ci@farga.local", cwd=root)
    sh("git", "config", "user.name", "farga ci", cwd=root)
    sh("dvc", "init", "-q", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "init", cwd=root)
    sh("dvc", "repro", *targets, cwd=root, env={"FARGA_ROOT": str(root), **(env or {})})
    return root


PG_ADMIN = os.environ.get("FARGA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database on the machine's PostgreSQL server (FARGA_TEST_POSTGRES), dropped afterwards.
    Where none answers the test skips saying so, and fails under CI, whose machine has one. (Tests that
    stop or fill a database start their own server instead: tests/faults.)"""
    import uuid

    import pytest

    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[postgres]')")
    admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI has a PostgreSQL server at {PG_ADMIN}, but it does not answer: {exc}")
        pytest.skip(f"no PostgreSQL server answers at {PG_ADMIN}: {exc}")
    name = f"farga_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# A child that runs an ONNX graph on the feeds in argv[2] and saves its outputs to argv[3], after
# checking it sees the CPU it was started on: AVX2 and FMA, no AVX-512 and no int8 dot products.
_ON_AVX2 = """
import sys
import numpy as np
from numpy._core._multiarray_umath import __cpu_features__ as cpu
from farga.onnx_runtime import OnnxModel
seen = {name: cpu[name] for name in ("AVX2", "FMA3", "AVX512F", "AVX512VNNI")}
assert seen == {"AVX2": True, "FMA3": True, "AVX512F": False, "AVX512VNNI": False}, seen
model = OnnxModel.load(__import__("pathlib").Path(sys.argv[1]))
with np.load(sys.argv[2]) as feeds:
    np.savez(sys.argv[3], **model.run(dict(feeds)))
"""


def run_on_avx2_cpu(graph: Path, feeds: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """``graph``'s outputs for ``feeds`` (input name -> array) on a CPU with AVX2 but no int8 dot-product
    instruction (as many AMD and older Intel processors): ONNX Runtime picks its kernels from CPUID and
    has no switch to force its AVX2 path, so the graph runs under QEMU's user-mode emulation of a
    Haswell CPU."""
    import platform
    import subprocess
    import sys

    import numpy as np
    import pytest

    if platform.machine() != "x86_64":
        pytest.skip("the AVX2 path is an x86-64 one; QEMU runs this interpreter only on an x86-64 host")
    qemu = tool("qemu-x86_64", "Debian's qemu-user (make system-deps installs it)")
    np.savez(workdir / "feeds.npz", **feeds)
    done = subprocess.run(
        [qemu, "-cpu", "Haswell-v4", sys.executable, "-c", _ON_AVX2, str(graph), str(workdir / "feeds.npz"),
         str(workdir / "outputs.npz")],
        capture_output=True, text=True, timeout=600, check=False, env=venv_env(),
    )  # fmt: skip
    errors = "\n".join(line for line in done.stderr.splitlines() if "TCG doesn't support" not in line)
    assert done.returncode == 0, f"the emulated AVX2 run failed:\n{errors[-3000:]}"
    with np.load(workdir / "outputs.npz") as outputs:
        return dict(outputs)


def config_of(root: Path, component: str) -> Any:
    """The typed params of ``component`` in ``root``'s params.yaml (the repository's: ``REPO``)."""
    return make_ctx(root, yaml.safe_load((root / "params.yaml").read_text()), component).config
