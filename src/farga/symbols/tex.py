"""Does a LaTeX command compile? Asked of a real TeX engine (pdflatex), never of a list.

The catalogue's packages and modes are checked this way (tests/data/test_catalogue_outputs.py),
and so is a command a user types under "None of these" before its drawings may become a class.
TeX runs with shell escape off, in a fresh folder, under a time limit: the command is untrusted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

Mode = Literal["math", "text", "both"]
ENGINE = "pdflatex"
# a command, optionally with one braced argument of letters, digits or nothing (\mathbb{R}, \sqrt{});
# anything else (a second command, a group, an \input) is refused before TeX ever sees it
COMMAND = re.compile(r"\\(?:[A-Za-z]+|[^A-Za-z\s])(?:\{[A-Za-z0-9]{0,3}\})?")
PACKAGE = re.compile(r"[a-z][a-z0-9-]{0,39}")
FORBIDDEN = re.compile(r"\\(?:input|include|write|read|open|immediate|def|let|catcode|csname|special|usepackage)\b")


def mode_of(value: str) -> Mode:
    if value not in get_args(Mode):
        raise ValueError(f"mode {value!r} is none of {get_args(Mode)}")
    return cast(Mode, value)


class TexUnavailable(RuntimeError):
    """No TeX engine on this machine: the check cannot be made (``make system-deps`` installs one)."""


@dataclass(frozen=True)
class TexVerdict:
    latex: str
    package: str | None
    mode: Mode
    compiles: bool
    error: str | None = None  # TeX's own first error line, when it does not compile


def well_formed(latex: str, package: str | None) -> str | None:
    """Why a typed command cannot even be tried (None: it can), in words a user can act on."""
    if not COMMAND.fullmatch(latex) or FORBIDDEN.match(latex):
        return f"{latex!r} is not one LaTeX command (write it like \\alpha, \\mathbb{{R}} or \\#)"
    if package is not None and not PACKAGE.fullmatch(package):
        return f"{package!r} is not a LaTeX package name (like amssymb or stmaryrd)"
    return None


def engine() -> str:
    found = shutil.which(ENGINE)
    if found is None:
        raise TexUnavailable(f"{ENGINE} is not installed: `make system-deps` installs Debian's TeX Live")
    return found


def preamble(items: list[tuple[str, str | None, Mode]]) -> str:
    """The document class and every package the items name: what each TeX run here starts with."""
    packages = sorted({package for _, package, _ in items if package})
    return "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n" + "".join(f"\\usepackage{{{p}}}\n" for p in packages)


def document(items: list[tuple[str, str | None, Mode]]) -> str:
    body = []
    for latex, _, mode in items:
        if mode in ("math", "both"):
            body.append(f"${latex}$")
        if mode in ("text", "both"):
            body.append(f"{latex}{{}}")
    return preamble(items) + "\\begin{document}\n" + ("\n".join(body) + "\n\\end{document}\n")


def run_engine(folder: Path, source: str, timeout: float, *, draft: bool = False) -> subprocess.CompletedProcess[str]:
    """pdflatex on ``source`` (written to ``folder``/doc.tex): a fixed engine, no shell, shell escape off,
    the untrusted text in a file. TeX's output is decoded tolerantly: it quotes its input's bytes."""
    (folder / "doc.tex").write_text(source, encoding="utf-8")
    return subprocess.run(
        [
            engine(),
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-no-shell-escape",
            *(["-draftmode"] * draft),
            "doc.tex",
        ],
        cwd=folder,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )


def compiles(items: list[tuple[str, str | None, Mode]], timeout: float = 60.0) -> tuple[bool, str | None]:
    """One document using every item: (compiled, TeX's first error line)."""
    with tempfile.TemporaryDirectory(prefix="farga-tex-") as tmp:
        try:
            run = run_engine(Path(tmp), document(items), timeout, draft=True)
        except subprocess.TimeoutExpired:
            return False, f"TeX did not finish in {timeout:.0f} s"
        if run.returncode == 0:
            return True, None
        lines = run.stdout.strip().splitlines()
        errors = [line for line in lines if line.startswith("!")] or lines[-1:] or [f"{ENGINE} exited {run.returncode}"]
        return False, errors[0]


def check(latex: str, package: str | None, mode: Mode = "math") -> TexVerdict:
    problem = well_formed(latex, package)
    if problem:
        return TexVerdict(latex, package, mode, False, problem)
    ok, error = compiles([(latex, package, mode)])
    return TexVerdict(latex, package, mode, ok, error)


def check_all(items: list[tuple[str, str | None, Mode]]) -> list[TexVerdict]:
    """Every item's verdict, in as few TeX runs as the failures allow: all in one document first,
    then halves of any document that fails, down to the single commands that do not compile."""
    ok, error = compiles(items)
    if ok:
        return [TexVerdict(*item, compiles=True) for item in items]
    if len(items) == 1:
        return [TexVerdict(*items[0], compiles=False, error=error)]
    half = len(items) // 2
    return check_all(items[:half]) + check_all(items[half:])
