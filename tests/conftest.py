"""Shared fixtures: small synthetic data made by the project itself, a throwaway project root.

No test needs the network or ../shared: the HASYv2 download URL points at a closed local port.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from farga import components
from farga.config import Settings, StageContext, quiet_environment
from farga.symbols.archive import HasyArchive
from farga.symbols.params import Synthetic
from farga.symbols.synthetic import generate
from support import SMALL, make_ctx, tiny_params

quiet_environment(force=True)
os.environ["FARGA_HASYV2_URL"] = "http://127.0.0.1:9/HASYv2.tar.bz2"  # a closed local port
os.environ.pop("FARGA_HASYV2_ARCHIVE", None)
os.environ.pop("FARGA_TRACKING_URI", None)


@pytest.fixture(scope="session")
def small_archive() -> HasyArchive:
    return generate(Synthetic(**SMALL), progress=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    return tmp_path


@pytest.fixture
def ctx(project: Path) -> StageContext:
    return components.context("symbols", Settings(root=project))


@pytest.fixture(scope="session")
def prepared_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project that has run fetch, prepare and validate on the small synthetic data (shared, read-only)."""
    from farga.pipeline import run_stage

    root = tmp_path_factory.mktemp("prepared")
    params = tiny_params()
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for component in components.available():  # one made by `farga new` too: its section is small already
        ctx = make_ctx(root, params, component)
        for stage in ("fetch", "prepare", "validate"):
            run_stage(stage, ctx)
    return root


@pytest.fixture(scope="session")
def trained_project(prepared_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a registered champion of every component, trained on small synthetic data (shared, read-only)."""
    from farga.pipeline import run_stage

    root = tmp_path_factory.mktemp("trained")
    shutil.rmtree(root)
    shutil.copytree(prepared_project, root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for component in components.available():
        ctx = make_ctx(root, params, component)
        for stage in ("train", "evaluate", "register"):
            run_stage(stage, ctx)
    return root


@pytest.fixture
def served(trained_project: Path, tmp_path: Path) -> Path:
    """A private copy of the trained project (its registry and feedback store are the test's own)."""
    root = tmp_path / "served"
    shutil.copytree(trained_project, root)
    return root


@pytest.fixture
def prepared_copy(prepared_project: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(prepared_project, dest)
    return dest
