"""The catalogue's outputs people paste, checked by the engines that will read them: every LaTeX
command compiles with its package in its mode (pdflatex), every listed package is needed, and every
Typst name compiles and stands for the catalogue's Unicode character (the Typst compiler)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support import tool

from farga.symbols import catalogue, tex

pytestmark = pytest.mark.data
TEX_HINT = "make system-deps installs Debian's TeX Live"


@pytest.fixture(scope="module")
def pdflatex() -> str:
    return tool(tex.ENGINE, TEX_HINT)


def test_every_catalogue_command_compiles_with_its_package(pdflatex: str) -> None:
    items = [(s.latex, s.package, s.mode) for s in catalogue.symbols()]
    failed = [v for v in tex.check_all(items) if not v.compiles]  # type: ignore[arg-type]
    assert not failed, [(v.latex, v.package, v.error) for v in failed]


def test_every_listed_package_is_needed(pdflatex: str) -> None:
    """A package named without need sends a user to install something for nothing."""
    items = [(s.latex, None, s.mode) for s in catalogue.symbols() if s.package]
    assert len(items) > 50
    needless = [v.latex for v in tex.check_all(items) if v.compiles]  # type: ignore[arg-type]
    assert not needless, f"these compile without their catalogue package: {needless}"


def test_tex_check_tells_a_command_that_does_not_compile(pdflatex: str) -> None:
    assert tex.check(r"\alpha", None).compiles
    assert tex.check(r"\mathbb{R}", "amssymb").compiles
    missing_package = tex.check(r"\mathbb{R}", None)
    assert not missing_package.compiles
    assert "Undefined control sequence" in str(missing_package.error)
    assert not tex.check(r"\notacommandanywhere", None).compiles
    assert "not found" in str(tex.check(r"\alpha", "nosuchpackage").error)


@pytest.mark.parametrize(
    ("latex", "package"),
    [
        (r"\input{/etc/passwd}", None),
        (r"\alpha\beta", None),
        ("alpha", None),
        (r"\def\x{1}", None),
        (r"\alpha", "amssymb}\\input{x"),
        (r"\mathbb{RR RR}", "amssymb"),
    ],
)
def test_tex_check_refuses_what_is_not_one_command_before_tex_sees_it(latex: str, package: str | None) -> None:
    verdict = tex.check(latex, package)
    assert not verdict.compiles
    assert verdict.error is not None
    assert verdict.error == tex.well_formed(latex, package)


def test_every_typst_name_compiles_and_is_the_catalogue_character(tmp_path: Path) -> None:
    typst = pytest.importorskip("typst", reason="typst is a dev dependency: make setup")
    named = [s for s in catalogue.symbols() if s.typst]
    assert len(named) >= 350  # 361 of 369 when this test was written: none may be lost unnoticed
    lines = [f"${s.typst}$" for s in named]
    symbols = [s for s in named if s.typst.replace(".", "").isalpha() and len(s.typst) > 1]
    lines += [
        f'#assert.eq(str(sym.{s.typst}).replace("\\u{{fe0e}}", ""), {json.dumps(s.unicode, ensure_ascii=False)}, '
        f"message: {json.dumps(s.latex, ensure_ascii=False)})"
        for s in symbols
    ]
    source = tmp_path / "names.typ"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    typst.compile(str(source), format="svg")  # raises, naming the line, on an unknown name or a wrong character
    assert len(symbols) > 200
