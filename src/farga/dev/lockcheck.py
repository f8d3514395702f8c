"""Committed results match committed code: a stage whose code or params changed since ``dvc.lock``
recorded its run is stale, and its committed reports say nothing about the code beside them.

DVC itself judges (``dvc status``); this keeps what a clean clone can judge without the data: the
dependencies git tracks (code, params.yaml) and the command. A change that cannot alter a result is
recorded with ``dvc commit <stage>`` and a commit message that says why (docs/adding-a-component.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from farga.errors import FargaError


def tracked_files(root: Path) -> set[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    return set(listed.splitlines())


def dvc_status(root: Path) -> dict[str, list[object]]:
    dvc = shutil.which("dvc", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if dvc is None:
        raise FargaError("dvc is not on PATH (install the pipeline extras)")
    done = subprocess.run([dvc, "status", "--json"], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FargaError(f"dvc status failed: {done.stderr.strip() or done.stdout.strip()}")
    status: dict[str, list[object]] = json.loads(done.stdout or "{}")
    return status


def stale_stages(root: Path) -> dict[str, list[str]]:
    """stage -> what changed since its lock entry, counting only what a clean clone has (git-tracked
    dependencies, params, the command) and stages never run at all; missing data is not a change."""
    tracked = tracked_files(root)
    stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    lock_path = root / "dvc.lock"
    locked = yaml.safe_load(lock_path.read_text(encoding="utf-8"))["stages"] if lock_path.exists() else {}
    out: dict[str, list[str]] = {name: ["never run: no dvc.lock entry"] for name in stages if name not in locked}
    for stage, entries in dvc_status(root).items():
        name = stage.rsplit(":", 1)[-1]
        for entry in entries:
            if entry == "changed command":
                out.setdefault(name, []).append("its command changed")
            if not isinstance(entry, dict):
                continue
            for path, change in (entry.get("changed deps") or {}).items():
                if isinstance(change, dict):  # params: {key: modified|new|deleted}
                    out.setdefault(name, []).extend(f"{path}: {key} {how}" for key, how in change.items())
                elif path in tracked:
                    out.setdefault(name, []).append(f"{path} {change}")
    return {name: sorted(set(changes)) for name, changes in out.items() if changes}
