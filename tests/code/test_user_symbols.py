"""Admission of symbols users teach: counted per command, per person, then asked of TeX."""

import pytest

from farga.symbols import catalogue, tex
from farga.symbols.user_symbols import Named, admit, read_user_symbols, user_symbol_id, write_user_symbols
from support import tool

pytestmark = pytest.mark.code


def drawings(latex: str, clients: list[str | None], package: str | None = None) -> list[Named]:
    return [Named(latex, package, client) for client in clients]


def test_a_learnt_id_is_the_commands_own_and_never_a_catalogue_id():
    ids = {user_symbol_id(s) for s in (r"\spadesuit", r"\bigstar", r"\maltese")}
    assert len(ids) == 3
    assert min(ids) >= 100_000
    assert user_symbol_id(r"\spadesuit") == user_symbol_id(r"\spadesuit")
    assert not ids & set(catalogue.by_id())


def test_too_few_drawings_or_people_wait_and_say_what_they_lack(monkeypatch):
    monkeypatch.setattr(tex, "compiles", lambda items, timeout=60.0: pytest.fail("TeX asked too early"))
    named = (
        drawings(r"\spadesuit", ["a", "a", "a", "b"])
        + drawings(r"\bigstar", ["a", "b"])
        + drawings(r"\alpha", ["a"] * 9)
    )
    result = admit(named, min_drawings=4, min_clients=3)
    assert result.admitted == []
    assert result.waiting == {
        r"\bigstar": "2 drawings from 2 clients; needs 4 from 3",
        r"\spadesuit": "4 drawings from 2 clients; needs 4 from 3",
    }  # \alpha is the catalogue's: never a new symbol


def test_unknown_clients_do_not_count_as_people(monkeypatch):
    monkeypatch.setattr(tex, "compiles", lambda items, timeout=60.0: (True, None))
    assert admit(drawings(r"\spadesuit", [None] * 5), 2, 1).waiting
    assert admit(drawings(r"\spadesuit", [None] * 4 + ["a"]), 2, 1).admitted


def test_without_tex_a_command_waits_instead_of_being_refused(monkeypatch):
    def missing() -> str:
        raise tex.TexUnavailable("pdflatex is not installed")

    monkeypatch.setattr(tex, "engine", missing)
    result = admit(drawings(r"\spadesuit", ["a", "b"]), 2, 2)
    assert result.refused == {}
    assert result.waiting == {r"\spadesuit": "not checked: pdflatex is not installed"}


def test_the_package_most_drawings_name_is_checked_and_kept(tmp_path):
    tool("pdflatex", "make system-deps installs TeX Live")
    named = drawings(r"\boxast", ["a", "b"], "stmaryrd") + drawings(r"\boxast", ["c"], None)
    named += drawings(r"\notacommandatall", ["a", "b", "c"])
    result = admit(named, min_drawings=3, min_clients=2)
    [learnt] = result.admitted
    assert (learnt.latex, learnt.package, learnt.mode, learnt.drawings, learnt.clients) == (
        r"\boxast",
        "stmaryrd",
        "math",
        3,
        3,
    )
    assert "Undefined control sequence" in result.refused[r"\notacommandatall"]
    path = write_user_symbols(tmp_path / "user_symbols.csv", result.admitted)
    assert read_user_symbols(path) == result.admitted
    write_user_symbols(path, [])  # none left: no file, and the export is as before
    assert not path.exists()
    assert read_user_symbols(path) == []
