"""The door a team walks through: `farga new component` in a copy of this checkout, taken from generation
to a served prediction and a stored feedback, touching nothing outside its own files but what the door edits.

The copy gets its own virtual environment (this one's packages, read through a .pth, with the copy
installed over them), so that installing the new entry point leaves this checkout's environment alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from farga.serving.process import running_server
from farga.serving.store import FeedbackStore
from support import REPO, sh, venv_env

pytestmark = pytest.mark.pipeline
NAME = "door_demo"
DOOR = {"params.yaml", "dvc.yaml", "dvc.lock", "pyproject.toml", "docs/configuration.md", f".copier-answers/{NAME}.yml"}


def copy_checkout(dest: Path) -> Path:
    """This checkout's files as git sees them (tracked, and new ones not ignored), committed in a new repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(source.read_bytes())
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.email=ci@farga.local", "-c", "user.name=ci", "commit", "-qm", "checkout"],
    ):
        sh("git", *args, cwd=dest)
    return dest


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """The copy with the component generated, the environment its commands run in, and its venv's bin/."""
    root = copy_checkout(tmp_path_factory.mktemp("checkout"))
    venv = tmp_path_factory.mktemp("venv")
    sh(sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv), cwd=root)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(sh(str(venv / "bin" / "python"), "-c", where, cwd=root).strip())
    (purelib / "this-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    bin_dir = venv / "bin"
    sh(
        str(bin_dir / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-e",
        str(root),
        cwd=root,
    )
    env = {"FARGA_ROOT": str(root), "PATH": f"{bin_dir}:{venv_env()['PATH']}"}
    out = sh(str(bin_dir / "farga"), "new", "component", NAME, cwd=root, env=env)
    assert f"{NAME} is ready" in out
    return root, env, bin_dir


def changed(root: Path) -> set[str]:
    status = sh("git", "status", "--porcelain", "--untracked-files=all", cwd=root)
    return {line[3:] for line in status.splitlines()}


def test_generation_touches_its_own_files_and_only_the_door_besides(generated):
    root, _, _ = generated
    own = {
        p for p in changed(root) if p.startswith((f"src/farga/{NAME}/", f"reports/{NAME}/")) or f"/test_{NAME}_" in p
    }
    assert {p.split("/")[1] for p in own if p.startswith("tests/")} == {"code", "data", "model", "api"}
    assert changed(root) - own == DOOR
    assert {f"reports/{NAME}/model_card.md", f"reports/{NAME}/registry.json"} <= own  # trained and registered
    pyproject = (root / "pyproject.toml").read_text()
    assert f'{NAME} = "farga.{NAME}:component"' in pyproject
    assert f'| {NAME}"' in pyproject  # its layer
    assert f'"farga.{NAME}.service"' in pyproject  # no torch where it serves
    assert f"`{NAME}.train.epochs`" in (root / "docs/configuration.md").read_text()


def test_a_second_generation_of_the_same_name_is_refused(generated):
    root, env, _ = generated
    done = subprocess.run(["farga", "new", "component", NAME, "--no-install"], cwd=root, env=venv_env(env),
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 1
    assert f"farga.{NAME} already exists" in done.stderr


def test_the_generated_code_passes_the_linters_and_its_own_tests(generated):
    root, env, bin_dir = generated
    python = str(bin_dir / "python")
    files = [f"src/farga/{NAME}", *(str(p.relative_to(root)) for p in root.glob(f"tests/*/test_{NAME}_*.py"))]
    sh(python, "-m", "ruff", "check", *files, cwd=root, env=env)
    sh(python, "-m", "ruff", "format", "--check", *files, cwd=root, env=env)
    sh(python, "-m", "mypy", "--no-incremental", f"src/farga/{NAME}", cwd=root, env=env)
    sh(python, "-m", "farga", "dev", "lock-check", cwd=root, env=env)  # its stages ran: results match code
    lint = "import sys; from importlinter.cli import lint_imports_command as lint; sys.argv[1:] = ['--no-logo']; lint()"
    assert "0 broken" in sh(python, "-c", lint, cwd=root, env=env)
    out = sh(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files[1:], cwd=root, env=env)
    assert " passed" in out
    assert "failed" not in out
    assert "skipped" not in out


def test_it_is_trained_and_registered_and_the_service_answers_and_keeps_feedback(generated):
    root, env, bin_dir = generated
    out = sh("dvc", "repro", f"{NAME}-register", cwd=root, env=env, timeout=900)
    assert "Running stage" not in out  # `farga new` ran it: nothing is stale
    registry = json.loads((root / "reports" / NAME / "registry.json").read_text())
    assert registry["promoted"]
    assert registry["version"] == "1"
    metrics = json.loads((root / "reports" / NAME / "metrics.json").read_text())
    assert metrics["test_top1"] > metrics["anchor_test_top1"]
    serve = [str(bin_dir / "farga"), "serve", "--port", "{port}"]
    with running_server(root, command=serve, env={"FARGA_COMPONENTS": NAME}) as url, httpx.Client(base_url=url) as http:
        listed = {c["name"]: c for c in http.get("/v1/components").json()}
        assert listed[NAME]["page"] == f"/static/{NAME}/tab.js"
        answer = http.post(f"/v1/{NAME}/predict", json={"text": "Kalo mine rusa vo."})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        label = body["candidates"][0]["label"]
        kept = http.post(f"/v1/{NAME}/feedback", json={"prediction_id": body["prediction_id"], "label": label})
        assert kept.status_code == 200, kept.text
        assert (
            http.post(f"/v1/{NAME}/feedback", json={"prediction_id": body["prediction_id"], "label": "?"}).status_code
            == 422
        )
    row = FeedbackStore(f"sqlite:///{root / 'feedback.db'}").get(body["prediction_id"])
    assert row is not None
    assert row.feedback_label == label
