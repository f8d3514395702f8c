"""The guards pre-commit and CI run catch what they are there for (a planted secret, a large file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

pytestmark = pytest.mark.code
BIN = Path(sys.executable).parent


def hook(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / name), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_secret_guard_flags_a_planted_key_and_passes_clean_code(tmp_path: Path):
    baseline = str(REPO / ".secrets.baseline")
    leaky = tmp_path / "settings.py"
    # assembled at run time, so this test file itself holds no secret-looking literal
    leaky.write_text(f'aws_secret_access_key = "{"wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzEXAMPLEKEY"}"\n')
    found = hook("detect-secrets-hook", "--baseline", baseline, str(leaky), cwd=tmp_path)
    assert found.returncode != 0
    assert "settings.py" in found.stdout
    clean = tmp_path / "clean.py"
    clean.write_text("threads = 2\n")
    assert hook("detect-secrets-hook", "--baseline", baseline, str(clean), cwd=tmp_path).returncode == 0


def test_repository_has_no_unreviewed_secret():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    files = [f for f in tracked if not f.startswith("requirements/") and f != "dvc.lock"]
    result = hook("detect-secrets-hook", "--baseline", ".secrets.baseline", *files, cwd=REPO)
    assert result.returncode == 0, result.stdout


def test_large_file_guard_refuses_data_committed_by_mistake(tmp_path: Path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # the hook asks git about LFS
    big = tmp_path / "train.npy"
    big.write_bytes(b"\0" * (2 << 20))
    refused = hook("check-added-large-files", "--enforce-all", "--maxkb=1024", str(big), cwd=tmp_path)
    assert refused.returncode != 0
    assert "train.npy" in refused.stdout
