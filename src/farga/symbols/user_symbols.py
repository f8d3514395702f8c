"""Symbols learnt from users: commands outside the catalogue that people drew and named under "None of these".

A named command stays feedback until enough accepted drawings from enough distinct clients name it
(``symbols.feedback.new_symbols`` in params.yaml): one person cannot add a class, and a typo made
once stays a typo. Then pdflatex must compile it with the package named, as the catalogue's own
commands are checked, and it joins the classes at the next retraining. Its id is derived from the
command, so one command keeps one id across exports, models and machines, with no counter to keep.

The admitted commands are written beside the exported feedback (``user_symbols.csv``), so DVC
versions the grown catalogue with the drawings that taught it.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from farga.errors import FargaError
from farga.symbols import catalogue, tex

USER_SYMBOLS = "user_symbols.csv"
FIRST_USER_ID = 100_000  # HASYv2's ids stay under 2,000: a user class can never take a catalogue id


@dataclass(frozen=True)
class Named:
    """One accepted drawing's label outside the catalogue: the command, its package, who sent it."""

    latex: str
    package: str | None
    client: str | None


@dataclass(frozen=True)
class UserSymbol:
    symbol_id: int
    latex: str
    package: str | None
    mode: tex.Mode
    drawings: int
    clients: int


@dataclass(frozen=True)
class Admission:
    admitted: list[UserSymbol]
    waiting: dict[str, str]  # command -> what it still lacks
    refused: dict[str, str]  # command -> why TeX refused it


def user_symbol_id(latex: str) -> int:
    return FIRST_USER_ID + int(hashlib.sha256(latex.encode()).hexdigest()[:8], 16) % 900_000


def admit(named: Iterable[Named], min_drawings: int, min_clients: int) -> Admission:
    """Which named commands become classes. A command's package is the one most of its drawings name
    (ties: the alphabetically first, so the choice does not depend on arrival order)."""
    by_command: dict[str, list[Named]] = defaultdict(list)
    for item in named:
        if item.latex not in catalogue.by_latex():
            by_command[item.latex].append(item)
    admitted, waiting, refused = [], {}, {}
    for latex in sorted(by_command):
        items = by_command[latex]
        clients = len({i.client for i in items if i.client is not None})
        if len(items) < min_drawings or clients < min_clients:
            waiting[latex] = f"{len(items)} drawings from {clients} clients; needs {min_drawings} from {min_clients}"
            continue
        packages = Counter(i.package or "" for i in items)
        package = min(packages, key=lambda p: (-packages[p], p)) or None
        try:
            math = tex.check(latex, package, "math")
            verdict = math if math.compiles else tex.check(latex, package, "text")
        except tex.TexUnavailable as exc:  # kept, not refused: a machine with TeX admits it
            waiting[latex] = f"not checked: {exc}"
            continue
        if not verdict.compiles:
            refused[latex] = math.error or "does not compile"
            continue
        admitted.append(UserSymbol(user_symbol_id(latex), latex, package, verdict.mode, len(items), clients))
    ids = Counter(s.symbol_id for s in admitted)
    if clash := [s.latex for s in admitted if ids[s.symbol_id] > 1]:
        raise FargaError(f"the learnt commands {clash} hash to one id: user_symbol_id needs a wider hash")
    return Admission(admitted, waiting, refused)


def write_user_symbols(path: Path, symbols: list[UserSymbol]) -> Path:
    """No file when there are none: an export without learnt symbols stays what it was before they existed."""
    if not symbols:
        path.unlink(missing_ok=True)
        return path
    names = [f.name for f in fields(UserSymbol)]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for symbol in sorted(symbols, key=lambda s: s.symbol_id):
            writer.writerow({k: ("" if v is None else v) for k, v in asdict(symbol).items()})
    return path


def read_user_symbols(path: Path) -> list[UserSymbol]:
    """The admitted commands beside an exported feedback archive (none when there is no such file)."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [
            UserSymbol(
                symbol_id=int(row["symbol_id"]),
                latex=row["latex"],
                package=row["package"] or None,
                mode=tex.mode_of(row["mode"]),
                drawings=int(row["drawings"]),
                clients=int(row["clients"]),
            )
            for row in csv.DictReader(f)
        ]
