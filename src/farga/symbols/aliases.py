"""Another name of a catalogue symbol (``\\le`` for ``\\leq``, ``\\to`` for ``\\rightarrow``) is that
symbol, not a new class: TeX renders the typed command and every catalogue command in one document,
and a command whose glyph is pixel for pixel a catalogue one is recorded as its alias in the ledger.

Rendering is TeX's own (pdflatex, then poppler's pdftoppm without anti-aliasing, so one glyph gives
one bitmap wherever it sits on its page), never a list of known aliases.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from farga.serving import ledger
from farga.serving.store import FeedbackStore
from farga.symbols import catalogue, tex
from farga.symbols.user_symbols import FIRST_USER_ID

NAME = "symbols"
DPI = 300
# a small page with the glyph near its corner: a few hundred pages render in seconds, not minutes
PAGE = (
    "\\pagestyle{empty}\\pdfpagewidth=1.5in \\pdfpageheight=1.5in \\hoffset=-1in \\voffset=-1in\n"
    "\\oddsidemargin=0.25in \\topmargin=0.25in \\headheight=0pt \\headsep=0pt \\textwidth=1in\n"
)
log = logging.getLogger("farga.symbols")


def _page(latex: str, mode: tex.Mode) -> str:
    return f"\\newpage\\noindent ${latex}$\n" if mode != "text" else f"\\newpage\\noindent {latex}{{}}\n"


def render(items: list[tuple[str, str | None, tex.Mode]], timeout: float = 120.0) -> list[np.ndarray] | None:
    """Each item's glyph, cropped to its ink (bool, True = ink), in one document; None when TeX refuses it."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise tex.TexUnavailable("pdftoppm is not installed: `make system-deps` installs Debian's poppler-utils")
    source = (
        tex.preamble(items)
        + PAGE
        + "\\begin{document}\n"
        + "".join(_page(latex, mode) for latex, _, mode in items)
        + "\\end{document}\n"
    )
    with tempfile.TemporaryDirectory(prefix="farga-glyphs-") as tmp:
        ran = tex.run_engine(Path(tmp), source, timeout)
        if ran.returncode != 0:
            return None
        subprocess.run(
            [pdftoppm, "-r", str(DPI), "-gray", "-aa", "no", "-aaVector", "no", "doc.pdf", "page"],
            cwd=tmp,
            check=True,
            timeout=timeout,
        )
        pages = sorted(Path(tmp).glob("page-*.pgm"), key=lambda p: int(p.stem.split("-")[-1]))
        return [_crop(np.asarray(Image.open(p)) < 128) for p in pages]


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if rows.size == 0:
        return np.zeros((0, 0), dtype=bool)
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def same_glyph(a: np.ndarray, b: np.ndarray) -> bool:
    return a.size > 0 and a.shape == b.shape and float((a != b).mean()) <= 0.01


def find_aliases(commands: dict[str, str | None]) -> dict[str, str]:
    """{command: the catalogue command it renders as} for those of ``commands`` ({command: package})
    that are another name of one; commands TeX cannot compile are left for a person."""
    known = sorted(catalogue.by_latex().values(), key=lambda s: s.symbol_id)
    reference = [(s.latex, s.package, tex.mode_of(s.mode)) for s in known]
    typed = [
        (c, p, v.mode)
        for (c, p), v in zip(
            commands.items(), tex.check_all([(c, p, "math") for c, p in commands.items()]), strict=True
        )
        if v.compiles
    ]
    if not typed:
        return {}
    glyphs = render(reference + typed)
    if glyphs is None:  # a package of the typed commands clashes with the catalogue's: one at a time
        found: dict[str, str] = {}
        for item in typed:
            found |= _match(known, render([*reference, item]), [item])
        return found
    return _match(known, glyphs, typed)


def _match(
    known: list[catalogue.Symbol], glyphs: list[np.ndarray] | None, typed: list[tuple[str, str | None, tex.Mode]]
) -> dict[str, str]:
    if glyphs is None or len(glyphs) != len(known) + len(typed):
        return {}
    found = {}
    for (latex, _, _), glyph in zip(typed, glyphs[len(known) :], strict=True):
        match = next((s.latex for s, ref in zip(known, glyphs, strict=False) if same_glyph(glyph, ref)), None)
        if match is not None:
            found[latex] = match
    return found


def record(store: FeedbackStore, alias: str, target: str, decided_by: str) -> None:
    """Record in the ledger that ``alias`` is the catalogue's ``target`` (trained, screened as it)."""
    ledger.decide(
        store,
        NAME,
        alias,
        "alias",
        attributes={"class": target},
        decided_by=decided_by,
        note=f"TeX renders {alias} as the catalogue's {target}",
        first_id=FIRST_USER_ID,
    )


def record_aliases(
    store: FeedbackStore, labels: set[str], packages: dict[str, str | None] | None = None
) -> dict[str, str]:
    """Every alias among ``labels``: those already in the ledger, and those TeX finds now (recorded,
    by "tex", with what they render as). Without TeX the new ones wait: a person can still refuse them."""
    decided = ledger.decisions(store, NAME)
    known = catalogue.by_latex()
    aliases = {k: str(d.attributes.get("class")) for k, d in decided.items() if d.verdict == "alias" and k in labels}
    fresh = {
        label: (packages or {}).get(label)
        for label in sorted(labels)
        if label not in known and label not in decided and tex.well_formed(label, (packages or {}).get(label)) is None
    }
    if not fresh:
        return aliases
    try:
        found = find_aliases(fresh)
    except tex.TexUnavailable as exc:
        log.warning("aliases not checked: %s", exc)
        return aliases
    for alias, target in found.items():
        record(store, alias, target, decided_by="tex")
    return aliases | found
