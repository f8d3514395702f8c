"""``farga ops review symbols``: a person admits (or refuses) the commands users taught.

Each waiting command is listed with what it still lacks against ``feedback.new_symbols`` and a
contact sheet of its drawings (a PNG: a reviewer sees at a glance whether they are one symbol or
scribbles). Approving asks pdflatex whether the command compiles with its package (math mode, else
text) and TeX whether it is another name of a catalogue symbol (then it is recorded as that alias);
the decision and its audit line go to the store's ledger.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from farga.errors import FargaError
from farga.facts import Facts
from farga.serving import ledger
from farga.serving.store import FeedbackStore
from farga.symbols import catalogue, tex
from farga.symbols.aliases import find_aliases, record
from farga.symbols.feedback import NAME, latest_drawings
from farga.symbols.params import NewSymbols
from farga.symbols.user_symbols import FIRST_USER_ID, WAITS_FOR_A_PERSON, Named, Tally, tally

# what a person reviews: accepted by screening, or not screened yet (a new command has no model to contradict it)
REVIEWABLE = ("accepted", None)
SHEET_COLUMNS, SHEET_MAX, SCALE = 10, 100, 2


def contact_sheet(inks: list[np.ndarray], path: Path) -> Path:
    """Up to SHEET_MAX drawings in a grid, black ink on white, each twice its size, a grey gap between."""
    inks = inks[:SHEET_MAX]
    rows = max(1, -(-len(inks) // SHEET_COLUMNS))
    cell = 32 * SCALE + 4
    sheet = np.full((rows * cell, min(len(inks), SHEET_COLUMNS) * cell or cell), 200, dtype=np.uint8)
    for i, ink in enumerate(inks):
        r, c = divmod(i, SHEET_COLUMNS)
        big = np.kron(255 - ink, np.ones((SCALE, SCALE), dtype=np.uint8))
        sheet[r * cell + 2 : r * cell + 2 + 32 * SCALE, c * cell + 2 : c * cell + 2 + 32 * SCALE] = big
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)
    return path


def sheet_name(latex: str) -> str:
    return "symbol-" + (re.sub(r"[^A-Za-z0-9]+", "_", latex).strip("_") or "x") + ".png"


def _drawings(store: FeedbackStore) -> tuple[dict[str, list[np.ndarray]], list[Named]]:
    latest, _ = latest_drawings(store, REVIEWABLE)
    inks: dict[str, list[np.ndarray]] = {}
    for _, ink, named in sorted(latest.values(), key=lambda item: item[0]):
        inks.setdefault(named.latex, []).append(ink)
    return inks, [named for _, _, named in latest.values()]


def waiting(store: FeedbackStore, rules: NewSymbols, sheets: Path) -> list[Facts]:
    """Every command no person has decided on yet, with what it lacks and its contact sheet."""
    decided = ledger.decisions(store, NAME)
    inks, named = _drawings(store)
    out: list[Facts] = []
    for latex, counts in tally(named, rules).items():
        if latex in decided:
            continue
        lacks = counts.lacks(rules)
        out.append(
            {
                "label": latex,
                "package": counts.package,
                "drawings": counts.drawings,
                "clients": counts.clients,
                "days": counts.days,
                "lacks": "; ".join(lacks) or WAITS_FOR_A_PERSON,
                "ready": not lacks,
                "sheet": str(contact_sheet(inks[latex], sheets / sheet_name(latex))),
            }
        )
    return out


def _tally_of(store: FeedbackStore, latex: str, rules: NewSymbols) -> Tally:
    if latex in catalogue.by_latex():
        raise FargaError(f"{latex} is a catalogue symbol already")
    counts = tally(_drawings(store)[1], rules).get(latex)
    if counts is None:
        raise FargaError(f"no accepted drawing is labelled {latex}")
    return counts


def approve(
    store: FeedbackStore, latex: str, rules: NewSymbols, decided_by: str, package: str | None = None, note: str = ""
) -> Facts:
    """Admit a command that meets the rules: it keeps the id and package given here for good."""
    counts = _tally_of(store, latex, rules)
    if lacks := counts.lacks(rules):
        raise FargaError(f"{latex} cannot be approved yet: {'; '.join(lacks)}")
    package = package or counts.package
    math = tex.check(latex, package, "math")
    verdict = math if math.compiles else tex.check(latex, package, "text")
    if not verdict.compiles:
        raise FargaError(f"pdflatex refuses {latex} with package {package or '(none)'}: {math.error}")
    if target := find_aliases({latex: package}).get(latex):
        record(store, latex, target, decided_by)
        raise FargaError(f"{latex} renders as the catalogue's {target}: recorded as its alias, not a new class")
    decision = ledger.decide(
        store, NAME, latex, "approved", attributes={"package": package, "mode": verdict.mode},
        decided_by=decided_by, note=note or "approved", first_id=FIRST_USER_ID,
    )  # fmt: skip
    return {
        "label": latex,
        "decision": "approved",
        "symbol_id": decision.class_id,
        "package": package,
        "mode": verdict.mode,
    }


def refuse(store: FeedbackStore, latex: str, why: str, decided_by: str) -> Facts:
    """Refuse a command (its drawings stay in the store, and never train); a later approval may undo it."""
    if latex in catalogue.by_latex():
        raise FargaError(f"{latex} is a catalogue symbol: refuse single feedback with `farga ops quarantine`")
    ledger.decide(store, NAME, latex, "refused", attributes={}, decided_by=decided_by, note=why, first_id=FIRST_USER_ID)
    return {"label": latex, "decision": "refused", "why": why}
