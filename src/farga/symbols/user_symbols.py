"""Symbols learnt from users: commands outside the catalogue that people drew and named under "None of these".

A named command stays feedback until its accepted drawings come from enough distinct clients, on
enough distinct days, with no one client's drawings counting past a share of the minimum
(``symbols.feedback.new_symbols`` in params.yaml): one person, on one afternoon, cannot add a class.
Then a person approves it (``farga ops review symbols``, which also asks pdflatex to compile it and TeX
to render it, to catch another name of a catalogue symbol). The approval gives it an id from the
store's ledger (farga.serving.ledger), never reused, and keeps its package with it for good.

The admitted commands are written beside the exported feedback (``user_symbols.csv``), so DVC
versions the grown catalogue with the drawings that taught it.
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path

from farga.serving.ledger import Decision
from farga.symbols import catalogue, tex
from farga.symbols.params import NewSymbols

USER_SYMBOLS = "user_symbols.csv"
FIRST_USER_ID = 100_000  # HASYv2's ids stay under 2,000: a user class can never take a catalogue id
WAITS_FOR_A_PERSON = "enough drawings, clients and days: waits for a person (farga ops review symbols)"


@dataclass(frozen=True)
class Named:
    """One accepted drawing's label outside the catalogue: the command, its package, who sent it, when."""

    latex: str
    package: str | None
    client: str | None
    day: date


@dataclass(frozen=True)
class UserSymbol:
    symbol_id: int
    latex: str
    package: str | None
    mode: tex.Mode
    drawings: int
    clients: int


@dataclass(frozen=True)
class Tally:
    """What one command's drawings amount to, against the admission rules."""

    latex: str
    drawings: int
    counted: int  # drawings, each client's counted up to its share
    clients: int
    days: int
    package: str | None  # the one most of its drawings name (ties: alphabetically first): a proposal

    def lacks(self, rules: NewSymbols) -> list[str]:
        short = [
            (self.counted, rules.min_drawings, f"drawings counted (at most {client_cap(rules)} per client)"),
            (self.clients, rules.min_clients, "distinct clients"),
            (self.days, rules.min_days, "distinct days"),
        ]
        return [f"{have} of {need} {what}" for have, need, what in short if have < need]


@dataclass(frozen=True)
class Admission:
    admitted: list[UserSymbol]
    waiting: dict[str, str]  # command -> what it still lacks
    refused: dict[str, str]  # command -> why a person (or TeX) refused it
    aliases: dict[str, str]  # command -> the catalogue command it renders as


def client_cap(rules: NewSymbols) -> int:
    return max(1, math.floor(rules.max_client_share * rules.min_drawings))


def tally(named: Iterable[Named], rules: NewSymbols) -> dict[str, Tally]:
    """Each command outside the catalogue, counted by drawings, clients (a drawing without a client
    counts toward no client) and days."""
    by_command: dict[str, list[Named]] = defaultdict(list)
    for item in named:
        if item.latex not in catalogue.by_latex():
            by_command[item.latex].append(item)
    cap, out = client_cap(rules), {}
    for latex, items in sorted(by_command.items()):
        per_client = Counter(i.client for i in items if i.client is not None)
        packages = Counter(i.package or "" for i in items)
        out[latex] = Tally(
            latex,
            drawings=len(items),
            counted=sum(min(n, cap) for n in per_client.values()),
            clients=len(per_client),
            days=len({i.day for i in items}),
            package=min(packages, key=lambda p: (-packages[p], p)) or None,
        )
    return out


def admission(named: Iterable[Named], rules: NewSymbols, decided: dict[str, Decision]) -> Admission:
    """Which commands are classes: those a person approved, with the id and package they were given
    then, whatever later feedback says; the rest wait (saying what they lack) or were refused."""
    tallies = tally(named, rules)
    admitted, waiting, refused, aliases = [], {}, {}, {}
    for latex in sorted(set(tallies) | {k for k, d in decided.items() if d.verdict == "approved"}):
        decision, counts = decided.get(latex), tallies.get(latex)
        if decision is not None and decision.verdict == "approved" and decision.class_id is not None:
            if counts is None:
                continue  # approved, but no accepted drawing of it in this export: nothing to learn from
            package, mode = decision.attributes.get("package"), tex.mode_of(decision.attributes.get("mode") or "math")
            admitted.append(UserSymbol(decision.class_id, latex, package, mode, counts.drawings, counts.clients))
        elif decision is not None and decision.verdict == "alias":
            aliases[latex] = str(decision.attributes.get("class"))
        elif decision is not None:
            refused[latex] = decision.note or f"refused by {decision.decided_by}"
        elif counts is not None:
            waiting[latex] = "; ".join(counts.lacks(rules)) or WAITS_FOR_A_PERSON
    return Admission(admitted, waiting, refused, aliases)


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
