"""The data contract on real HASYv2, wherever a copy is at hand (CI: the shared datasets folder).

Tests never need real data; this one runs on it when present, and says why it skipped when not.
Point ``FARGA_TEST_HASYV2`` at the public ``HASYv2.tar.bz2`` to run it anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from farga.pipeline import run_stage
from support import REPO, make_ctx

pytestmark = [pytest.mark.data, pytest.mark.real_data]

ARCHIVE = Path(os.environ.get("FARGA_TEST_HASYV2", REPO.parent / "shared/datasets/hasyv2/HASYv2.tar.bz2"))


@pytest.mark.skipif(not ARCHIVE.exists(), reason=f"no HASYv2 copy at {ARCHIVE} (set FARGA_TEST_HASYV2)")
def test_real_hasyv2_is_verified_prepared_and_meets_its_contract(tmp_path: Path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["symbols"]["data"]["source"] = "hasyv2"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ctx = make_ctx(tmp_path, params)
    fetched = run_stage("fetch", ctx, archive=ARCHIVE)
    assert fetched["classes"] == 369
    prepared = run_stage("prepare", ctx)
    assert prepared["splits"]["test"] > 10_000
    report = run_stage("validate", ctx)  # raises ContractViolation, listing every finding, if any check fails
    assert report["ok"]
    assert report["facts"]["classes"] == 369
    assert report["facts"]["main_writer_share"] > 0.85  # HASYv2's known skew, which the cards report
