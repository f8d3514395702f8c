"""The component contract is a protocol mypy checks: a component without a stage does not type-check,
and one that slips past the type checker (a plug-in built without it) is refused when loaded."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import REPO

from farga import components

pytestmark = pytest.mark.code


def mypy(*modules: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent", *map(str, modules)],
        env={"MYPYPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_component_without_a_stage_fails_type_checking(tmp_path: Path):
    source = (REPO / "src/farga/fillmask/__init__.py").read_text()
    whole = tmp_path / "whole.py"
    whole.write_text(source)
    without_train = re.sub(r"\n    def train\(.*?\n\n(?=    def )", "\n", source, flags=re.S)
    assert "def train" not in without_train
    broken = tmp_path / "broken.py"
    broken.write_text(without_train)
    checked = mypy(whole, broken)  # one run for both: mypy's start-up is most of its time
    assert checked.returncode == 1
    assert "whole.py" not in checked.stdout, checked.stdout  # the real component meets the contract
    assert 'missing following "Component" protocol member' in checked.stdout
    assert re.search(r"broken\.py:\d+: error: Incompatible types", checked.stdout), checked.stdout
    assert re.search(r"note:\s+train\b", checked.stdout)


def test_a_plug_in_that_lacks_a_stage_is_refused_at_load(monkeypatch: pytest.MonkeyPatch):
    from farga.fillmask import Fillmask

    assert isinstance(Fillmask(), components.Component)
    assert not isinstance(type("Bare", (), {"name": "bare"})(), components.Component)

    class EntryPoint:
        name, value = "bare", "somewhere:component"

        def load(self) -> object:
            return type("Bare", (), {"name": "bare", "summary": ""})()

    monkeypatch.setattr(components, "entry_points", lambda group: [EntryPoint()])
    with pytest.raises(components.UnknownComponentError, match="does not point at a farga Component"):
        components.get("bare")


def test_capabilities_are_asked_for_not_assumed():
    from farga.fillmask import Fillmask
    from farga.symbols import Symbols

    assert isinstance(Symbols(), components.Drifts)
    assert isinstance(Symbols(), components.ScreensFeedback)
    assert not isinstance(Fillmask(), components.Drifts)  # fillmask has no drift monitoring
    assert isinstance(Fillmask(), components.Serves)
    assert isinstance(Fillmask(), components.Behaves)
