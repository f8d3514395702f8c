"""`farga new component NAME`: a working component rendered from the repository's template.

The template (``templates/component``, rendered with copier) holds the component's folder and its tests;
outside them, generation touches only the door every component comes through: its entry point and its
place in the import-linter contracts (pyproject.toml), its section of params.yaml and its stages in
dvc.yaml (rendered from ``templates/component/fragments``), the generated pages, and its first run's
lock entries and reports. copier
records the answers in ``.copier-answers/NAME.yml``, so a component can take a later template's changes
(``copier recopy``, then review the diff).
"""

from __future__ import annotations

import contextlib
import keyword
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from farga.errors import FargaError

TEMPLATE = Path("templates") / "component"
NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
ENTRY_POINTS = '[project.entry-points."farga.components"]'
COMPONENTS_LAYER = re.compile(r'^(\s*")([a-z0-9_]+(?: \| [a-z0-9_]+)*)(",\s*# the components)', re.MULTILINE)
SERVICE_MODULE = re.compile(r'^(\s*)"farga\.[a-z0-9_]+\.service",\n', re.MULTILINE)


class ScaffoldError(FargaError, ValueError):
    """A name that cannot be a component here, or a checkout that lacks what generation edits."""


@dataclass
class Answers:
    name: str
    summary: str | None = None
    title: str | None = None
    page_order: int = 100

    def data(self) -> dict[str, str | int]:
        given = {"summary": self.summary, "title": self.title}
        return {"name": self.name, "page_order": self.page_order, **{k: v for k, v in given.items() if v}}


@dataclass
class Made:
    name: str
    created: list[Path] = field(default_factory=list)
    edited: list[Path] = field(default_factory=list)


def check_name(root: Path, name: str) -> None:
    if not NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(f"{name!r} cannot be a component name: use 2-31 lowercase letters, digits or _, "
                            "starting with a letter (it becomes farga.NAME and /v1/NAME)")  # fmt: skip
    taken = root / "src" / "farga" / name
    if taken.exists() or taken.with_suffix(".py").exists():
        raise ScaffoldError(f"farga.{name} already exists ({taken.relative_to(root)}): choose another name")
    for path, marker in (("params.yaml", f"\n{name}:"), ("dvc.yaml", f"\n  {name}-fetch:")):
        if marker in "\n" + (root / path).read_text():
            raise ScaffoldError(f"{path} already has {name}'s {'section' if path == 'params.yaml' else 'stages'}")
    if not (root / TEMPLATE / "copier.yml").is_file():
        raise ScaffoldError(f"no component template at {root / TEMPLATE}: run this in a farga checkout")


def register_in_pyproject(text: str, name: str) -> str:
    """The entry point, the components' layer and the modules that may not import torch, each with NAME."""
    head, found, rest = text.partition(ENTRY_POINTS + "\n")
    if not found:
        raise ScaffoldError(f"pyproject.toml has no {ENTRY_POINTS} table")
    section, blank, after = rest.partition("\n\n")
    text = f'{head}{found}{section}\n{name} = "farga.{name}:component"{blank}{after}'
    text, layers = COMPONENTS_LAYER.subn(lambda m: f"{m[1]}{m[2]} | {name}{m[3]}", text, count=1)
    services = list(SERVICE_MODULE.finditer(text))
    if not layers or not services:
        raise ScaffoldError("pyproject.toml's import-linter contracts lack the components' layer or service list")
    last = services[-1]
    return f'{text[: last.end()]}{last[1]}"farga.{name}.service",\n{text[last.end() :]}'


def append(path: Path, fragment: str) -> None:
    text = path.read_text()
    path.write_text(text.rstrip("\n") + "\n" + ("\n" if not fragment.startswith("\n") else "") + fragment)


def new_component(root: Path, answers: Answers, install: bool = True) -> Made:
    """Render the template into ``root`` and wire the component in; ``install`` re-installs the package
    so that its entry point is seen at once, regenerates the pages that list components, and runs its
    pipeline on the generated data (seconds), so that its stages have results that match their code
    (`farga dev lock-check`) and the service has a champion to show."""
    from copier import run_copy

    root = root.resolve()
    check_name(root, answers.name)
    before = rendered_into(root)
    with contextlib.chdir(root):  # the answers file records the template's path within the checkout
        worker = run_copy(str(TEMPLATE), ".", data=answers.data(), defaults=True, quiet=True, unsafe=False)
    created = sorted(rendered_into(root) - before)
    made = Made(answers.name, created)
    formatted(root, [p for p in created if p.suffix == ".py"])
    fragments = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root / TEMPLATE / "fragments"),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - YAML, not HTML
    )
    values = {**worker.answers.combined}
    append(root / "params.yaml", fragments.get_template("params.yaml.jinja").render(**values))
    append(root / "dvc.yaml", fragments.get_template("dvc.yaml.jinja").render(**values))
    pyproject = root / "pyproject.toml"
    pyproject.write_text(register_in_pyproject(pyproject.read_text(), answers.name))
    made.edited = [root / "params.yaml", root / "dvc.yaml", pyproject]
    if install:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(root)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise ScaffoldError(f"the component is generated, but `pip install -e .` failed:\n{done.stderr[-2000:]}")
        made.edited += regenerate_pages(root)
        made.edited += [root / "dvc.lock", *run_pipeline(root, answers.name)]
    return made


def rendered_into(root: Path) -> set[Path]:
    """The files under the folders the template writes to (not data, models or a virtual environment)."""
    folders = [root / top for top in ("src", "tests", ".copier-answers")]
    return {p for folder in folders for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def tools_first() -> dict[str, str]:
    """This environment, with this interpreter's tools (farga, dvc) first on PATH: DVC's stages call `farga`."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_pipeline(root: Path, name: str) -> list[Path]:
    """`dvc repro NAME-register`: its reports (cards, metrics, the registry's decision) are what it wrote."""
    done = subprocess.run(["dvc", "repro", f"{name}-register"], cwd=root, env=tools_first() | {"FARGA_ROOT": str(root)},
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise ScaffoldError(
            f"`dvc repro {name}-register` failed after generation:\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    return sorted((root / "reports" / name).glob("*"))


def formatted(root: Path, files: list[Path]) -> None:
    """The generated code in the project's own style: its imports sorted where the name put them, then
    formatted (ruff, from the dev extras; a checkout without it keeps the code as rendered)."""
    for args in (["check", "--fix", "--select", "I", "--quiet"], ["format", "--quiet"]):
        command = [sys.executable, "-m", "ruff", *args, *map(str, files)]
        subprocess.run(command, cwd=root, capture_output=True, check=False)


def regenerate_pages(root: Path) -> list[Path]:
    """The pages generated from the installed components (docs/configuration.md lists every section), in a
    new process: this one's import system has not seen the entry point just installed."""
    env = tools_first() | {"FARGA_ROOT": str(root)}
    done = subprocess.run([sys.executable, "-m", "farga", "dev", "report"], cwd=root, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise ScaffoldError(f"`farga dev report` failed after generation:\n{done.stdout[-1000:]}{done.stderr[-1000:]}")
    said = (done.stdout + done.stderr).splitlines()
    return [root / line.removeprefix("wrote: ").strip() for line in said if line.startswith("wrote: ")]
