"""The 369 HASYv2 symbols as a user needs them: LaTeX command, package, mode, Unicode, Typst, family.

``catalogue.csv`` was built from HASYv2's ``symbols.csv`` (ids and commands) and curated by hand
(packages, modes, families), each command and package checked by pdflatex; the Typst names come
from the Typst compiler's own symbol table (tools/catalogue_typst.py); ``render`` is a matplotlib
mathtext expression that draws the symbol, used by the synthetic data source and by previews.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Literal

Origin = Literal["catalogue", "users"]  # HASYv2's curated symbols, or one learnt from feedback (user_symbols.py)

FAMILIES = (
    "latin",
    "digit",
    "greek",
    "blackboard",
    "calligraphic",
    "arrow",
    "relation",
    "operator",
    "logic",
    "delimiter",
    "text",
    "misc",
)

# Symbols that even careful writers draw alike; a prediction inside the true symbol's group is
# "correct up to a confusable group" (HASYv2 paper, section 5: 32 classes no model got right).
CONFUSABLE_GROUPS: tuple[tuple[str, ...], ...] = (
    (r"\mid", "|"),
    (r"\|", r"\parallel"),
    (r"\triangle", r"\Delta", r"\vartriangle"),
    ("O", "o", "0", r"\circ", r"\fullmoon", r"\degree"),
    (r"\emptyset", r"\varnothing", r"\diameter", r"\O", r"\o", r"\phi"),
    (r"\epsilon", r"\varepsilon", r"\in", r"\mathcal{E}"),
    (r"\Sigma", r"\sum"),
    (r"\Pi", r"\prod"),
    (r"\amalg", r"\coprod"),
    (r"\lhd", r"\triangleleft"),
    (r"\vee", "v", r"\nu"),
    (r"\wedge", r"\barwedge"),
    (r"\cdot", r"\bullet"),
    (r"\setminus", r"\backslash"),
    (r"\times", "x", "X", r"\chi"),
    (r"\sqcup", r"\cup", "u", "U"),
    (r"\square", r"\Box"),
    (r"\perp", r"\bot"),
    (r"\top", "T"),
    (r"\dots", r"\dotsc"),
    (r"\leq", r"\leqslant", r"\preceq"),
    (r"\geq", r"\geqslant", r"\succeq"),
    (r"\subsetneq", r"\varsubsetneq"),
    (r"\propto", r"\varpropto", r"\alpha"),
    (r"\diamond", r"\lozenge", r"\diamondsuit"),
    (r"\ell", "l"),
    (r"\rho", "p", r"\varrho"),
    (r"\kappa", r"\varkappa", "k", "K"),
    (r"\omega", "w"),
    (r"\S", r"\mathsection"),
    (r"\sun", r"\astrosun", r"\odot"),
    (r"\checked", r"\checkmark"),
    (r"\Rightarrow", r"\Longrightarrow"),
    (r"\Leftrightarrow", r"\Longleftrightarrow"),
    (r"\rightarrow", r"\longrightarrow", r"\shortrightarrow"),
    (r"\mapsto", r"\longmapsto"),
    (r"\with", r"\&"),
    (r"\venus", r"\female"),
    (r"\mars", r"\male"),
    (r"\Bowtie", r"\bowtie"),
    (r"\mathbb{1}", r"\mathds{1}"),
    (r"\mathbb{R}", r"\mathds{R}"),
    (r"\mathbb{Q}", r"\mathds{Q}"),
    (r"\mathbb{N}", r"\mathds{N}"),
    (r"\mathbb{Z}", r"\mathds{Z}"),
    ("C", "c", r"\mathcal{C}", r"\subset"),
    ("S", "s", r"\mathcal{S}"),
    ("Z", "z", r"\mathcal{Z}"),
    ("1", "|", "l", "I"),
    ("-", r"\shortrightarrow"),
    (r"\iota", "i"),
    (r"\sim", r"\backsim"),
)


@dataclass(frozen=True)
class Symbol:
    symbol_id: int
    latex: str
    package: str | None
    mode: str
    unicode: str | None
    typst: str | None  # the name in Typst math ($...$), where Typst has one
    family: str
    render: str
    origin: Origin = "catalogue"

    @property
    def usepackage(self) -> str | None:
        return rf"\usepackage{{{self.package}}}" if self.package else None


@cache
def symbols() -> tuple[Symbol, ...]:
    """Read with the csv module, not pandas: the serving image carries no pandas."""
    text = files("farga.symbols").joinpath("catalogue.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return tuple(
        Symbol(
            symbol_id=int(row["symbol_id"]),
            latex=row["latex"],
            package=row["package"] or None,
            mode=row["mode"],
            unicode=row["unicode"] or None,
            typst=row["typst"] or None,
            family=row["family"],
            render=row["render"],
        )
        for row in rows
    )


@cache
def by_latex() -> dict[str, Symbol]:
    return {s.latex: s for s in symbols()}


@cache
def by_id() -> dict[int, Symbol]:
    return {s.symbol_id: s for s in symbols()}


def with_learnt(labels: list[dict[str, Any]]) -> dict[int, Symbol]:
    """The catalogue by id, plus the classes a model learnt from its users, described by the model's
    own labels (``farga.labels``): a model can know symbols this file does not."""
    known = dict(by_id())
    for label in labels:
        sid = int(label["symbol_id"])
        if sid not in known:
            known[sid] = Symbol(
                symbol_id=sid,
                latex=str(label["latex"]),
                package=label.get("package"),
                mode=str(label.get("mode", "math")),
                unicode=None,
                typst=None,
                family="misc",
                render="",
                origin="users",
            )
    return known


def confusable_index(latex_names: list[str]) -> list[int]:
    """Group number per class (classes outside any group get a group of their own).

    A symbol in two groups (``|``) joins them: confusability is transitive for scoring.
    """
    parent = {name: name for name in latex_names}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in CONFUSABLE_GROUPS:
        present = [g for g in group if g in parent]
        for other in present[1:]:
            parent[find(other)] = find(present[0])
    roots: dict[str, int] = {}
    return [roots.setdefault(find(name), len(roots)) for name in latex_names]
