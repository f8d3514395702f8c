"""Shared fixtures: small synthetic data made by the project itself, a throwaway project root.

No test needs the network or ../shared: the HASYv2 download URL points at a closed local port.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from farga.config import Settings, StageContext, component_params
from farga.symbols.archive import HasyArchive
from farga.symbols.synthetic import generate

REPO = Path(__file__).resolve().parents[1]

for var, value in {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "DVC_NO_ANALYTICS": "1",
                   "GX_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                   "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                   "FARGA_HASYV2_URL": "http://127.0.0.1:9/HASYv2.tar.bz2"}.items():  # fmt: skip
    os.environ[var] = value
os.environ.pop("FARGA_HASYV2_ARCHIVE", None)
os.environ.pop("FARGA_TRACKING_URI", None)

SMALL = {"classes": 12, "samples_per_class": 30, "writers": 4, "seed": 3}


def tiny_params() -> dict[str, Any]:
    """The repository's params.yaml, shrunk to seconds: synthetic data, a small net, two epochs."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    sym = params["symbols"]
    sym["data"]["source"] = "synthetic"
    sym["data"]["synthetic"] = dict(SMALL)
    sym["train"].update(epochs=2, batch_size=32)
    sym["train"]["model"].update(channels=[8, 16, 32], hidden=32)
    return params


@pytest.fixture(scope="session")
def small_archive() -> HasyArchive:
    return generate(SMALL, progress=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    return tmp_path


@pytest.fixture
def ctx(project: Path) -> StageContext:
    return StageContext.load("symbols", Settings(root=project))


def make_ctx(root: Path, params: dict[str, Any]) -> StageContext:
    return StageContext("symbols", Settings(root=root), component_params(params, "symbols"), params)


@pytest.fixture(scope="session")
def prepared_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project that has run fetch, prepare and validate on the small synthetic data (shared, read-only)."""
    from farga.pipeline import run_stage

    root = tmp_path_factory.mktemp("prepared")
    params = tiny_params()
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    ctx = make_ctx(root, params)
    for stage in ("fetch", "prepare", "validate"):
        run_stage(stage, ctx)
    return root


@pytest.fixture(scope="session")
def trained_project(prepared_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a registered champion trained on the small synthetic data (shared, read-only)."""
    from farga.pipeline import run_stage

    root = tmp_path_factory.mktemp("trained")
    shutil.rmtree(root)
    shutil.copytree(prepared_project, root)
    ctx = make_ctx(root, yaml.safe_load((root / "params.yaml").read_text()))
    for stage in ("train", "evaluate", "register"):
        run_stage(stage, ctx)
    return root


@pytest.fixture
def prepared_copy(prepared_project: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(prepared_project, dest)
    return dest
