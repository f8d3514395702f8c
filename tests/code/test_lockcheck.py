"""The lock check fails when code or params a stage depends on changed without its lock entry, and
passes on the repository as committed (a result in reports/ belongs to the code beside it)."""

import subprocess
from pathlib import Path

import pytest
from tests.support import REPO, venv_env

from farga.dev.lockcheck import stale_stages

pytestmark = pytest.mark.code


def sh(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, env=venv_env(), check=True, capture_output=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A two-stage DVC project, run and committed: `double` reads code and a param, `report` reads its output."""
    (tmp_path / "double.py").write_text(
        "import yaml\nk = yaml.safe_load(open('params.yaml'))['k']\nopen('out.txt', 'w').write(str(2 * k))\n"
    )
    (tmp_path / "params.yaml").write_text("k: 3\nunused: 1\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  double:\n    cmd: python double.py\n    deps: [double.py]\n    params: [k]\n    outs: [out.txt]\n"
        "  report:\n    cmd: cp out.txt report.txt\n    deps: [out.txt]\n    outs: [report.txt]\n"
    )
    sh("git", "init", "-q", cwd=tmp_path)
    sh("dvc", "init", "-q", cwd=tmp_path)
    sh("dvc", "repro", "-q", cwd=tmp_path)
    sh("git", "add", "-A", cwd=tmp_path)
    sh("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "run", cwd=tmp_path)
    return tmp_path


def test_a_committed_run_is_clean_and_missing_data_is_not_a_change(project: Path):
    assert stale_stages(project) == {}
    (project / "out.txt").unlink()  # a fresh clone has no data: not a code change
    assert stale_stages(project) == {}


def test_a_code_or_params_change_without_a_lock_update_is_caught(project: Path):
    (project / "double.py").write_text((project / "double.py").read_text() + "# a comment\n")
    assert stale_stages(project) == {"double": ["double.py modified"]}
    (project / "params.yaml").write_text("k: 4\nunused: 1\n")
    assert stale_stages(project) == {"double": ["double.py modified", "params.yaml: k modified"]}
    sh("dvc", "commit", "-f", "-q", "double", cwd=project)  # recorded: the lock says which code made the result
    assert stale_stages(project) == {}


def test_a_stage_never_run_is_caught(project: Path):
    dvc_yaml = project / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text() + "  extra:\n    cmd: echo hi\n")
    assert stale_stages(project)["extra"] == ["never run: no dvc.lock entry"]


def test_the_repository_results_belong_to_its_code():
    stale = stale_stages(REPO)
    assert stale == {}, "stages whose code or params changed since their lock entry: rerun them, or `dvc commit` " + (
        "them with a message saying why the result cannot change: " + repr(stale)
    )
