"""Admission of symbols users teach: counted per command, per client and per day, capped per client,
then decided by a person (ledger: ids never reused, packages kept), aliases found by TeX."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from farga.errors import FargaError
from farga.serving import ledger
from farga.serving.store import FeedbackStore
from farga.symbols import tex
from farga.symbols.params import NewSymbols
from farga.symbols.user_symbols import FIRST_USER_ID, Named, admission, read_user_symbols, tally, write_user_symbols
from support import tool

pytestmark = pytest.mark.code
RULES = NewSymbols(min_drawings=10, min_clients=3, min_days=2, max_client_share=0.4)  # 4 per client count
DAY = date(2026, 12, 1)


def drawings(latex: str, clients: list[str | None], days: int = 2, package: str | None = None) -> list[Named]:
    return [Named(latex, package, client, DAY + timedelta(days=i % days)) for i, client in enumerate(clients)]


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(f"sqlite:///{tmp_path / 'store.db'}")


def test_one_client_cannot_pass_however_many_drawings_it_sends():
    flood = drawings(r"\spadesuit", ["a"] * 500 + ["b", "c"])
    [counts] = tally(flood, RULES).values()
    assert (counts.drawings, counts.counted, counts.clients) == (502, 6, 3)  # 4 + 1 + 1
    assert counts.lacks(RULES) == ["6 of 10 drawings counted (at most 4 per client)"]
    fair = drawings(r"\spadesuit", ["a", "b", "c"] * 4)
    assert tally(fair, RULES)[r"\spadesuit"].lacks(RULES) == []


def test_one_day_is_not_enough_and_unknown_clients_are_no_one():
    one_day = drawings(r"\bigstar", ["a", "b", "c"] * 4, days=1)
    assert tally(one_day, RULES)[r"\bigstar"].lacks(RULES) == ["1 of 2 distinct days"]
    nobody = tally(drawings(r"\bigstar", [None] * 20), RULES)[r"\bigstar"]
    assert (nobody.clients, nobody.counted) == (0, 0)
    assert r"\alpha" not in tally(drawings(r"\alpha", ["a", "b", "c"] * 4), RULES)  # the catalogue's


def test_only_a_persons_approval_makes_a_class_and_its_package_is_kept_for_good(store: FeedbackStore):
    taught = drawings(r"\boxast", ["a", "b", "c"] * 4, package="stmaryrd")
    ready = admission(taught, RULES, ledger.decisions(store, "symbols"))
    assert ready.admitted == []
    assert "waits for a person" in ready.waiting[r"\boxast"]
    ledger.decide(
        store, "symbols", r"\boxast", "approved", attributes={"package": "stmaryrd", "mode": "math"},
        decided_by="ana", first_id=FIRST_USER_ID,
    )  # fmt: skip
    later = taught + drawings(r"\boxast", ["d", "e", "f"] * 10)  # later feedback names no package
    [learnt] = admission(later, RULES, ledger.decisions(store, "symbols")).admitted
    assert (learnt.symbol_id, learnt.package, learnt.mode) == (FIRST_USER_ID, "stmaryrd", "math")


def test_class_ids_come_from_the_ledger_and_are_never_reused(store: FeedbackStore):
    def decide(label: str, verdict: ledger.Verdict) -> ledger.Decision:
        return ledger.decide(store, "symbols", label, verdict, attributes={}, decided_by="ana", first_id=FIRST_USER_ID)

    first, second = decide(r"\a", "approved"), decide(r"\b", "approved")
    assert (first.class_id, second.class_id) == (FIRST_USER_ID, FIRST_USER_ID + 1)
    assert decide(r"\a", "refused").class_id == FIRST_USER_ID  # refused later: the id stays with it
    assert decide(r"\c", "approved").class_id == FIRST_USER_ID + 2
    assert decide(r"\a", "approved").class_id == FIRST_USER_ID  # approved again: its own id back
    assert ledger.decide(store, "other", r"\a", "approved", attributes={}, decided_by="x", first_id=7).class_id == 7
    trail = ledger.audit(store, "symbols")
    assert [(label, verdict) for _, label, verdict, _, _ in trail] == [
        (r"\a", "approved"), (r"\b", "approved"), (r"\a", "refused"), (r"\c", "approved"), (r"\a", "approved"),
    ]  # fmt: skip
    refused = admission(drawings(r"\d", ["a"]), RULES, {"\\d": decide(r"\d", "refused")}).refused
    assert refused == {r"\d": "refused by ana"}


def test_tex_output_that_is_not_utf8_is_read_not_raised():
    tool("pdflatex", "make system-deps installs TeX Live")
    compiled, error = tex.compiles([(r"\message{^^e9^^ff}\undefinedthing", None, "math")])
    assert not compiled
    assert error == "! Undefined control sequence."


def test_tex_finds_another_name_of_a_catalogue_symbol_and_nothing_else():
    tool("pdflatex", "make system-deps installs TeX Live")
    tool("pdftoppm", "make system-deps installs poppler-utils")
    from farga.symbols.aliases import find_aliases

    found = find_aliases(
        {r"\le": None, r"\to": None, r"\ne": None, r"\gets": None, r"\land": None, r"\lnot": None}
        | {r"\spadesuit": None, r"\maltese": "amssymb", r"\nosuchcommand": None}
    )
    assert found == {
        r"\le": r"\leq", r"\to": r"\rightarrow", r"\ne": r"\neq", r"\gets": r"\leftarrow",
        r"\land": r"\wedge", r"\lnot": r"\neg",
    }  # fmt: skip


def test_user_symbols_round_trip(tmp_path: Path):
    from farga.symbols.user_symbols import UserSymbol

    learnt = [UserSymbol(FIRST_USER_ID, r"\boxast", "stmaryrd", "math", 12, 3)]
    path = write_user_symbols(tmp_path / "user_symbols.csv", learnt)
    assert read_user_symbols(path) == learnt
    write_user_symbols(path, [])  # none left: no file, and the export is as before
    assert not path.exists()


def test_a_contact_sheet_shows_every_drawing(tmp_path: Path):
    from farga.symbols.review import contact_sheet

    inks = [np.full((32, 32), i, dtype=np.uint8) for i in range(23)]
    sheet = np.asarray(Image.open(contact_sheet(inks, tmp_path / "s.png")))
    assert sheet.shape == (3 * 68, 10 * 68)
    assert sheet[2 + 68 * 2, 2 + 68 * 2] == 255 - 22  # the 23rd drawing, third row, third column


def test_approval_needs_the_rules_met_and_tex(store: FeedbackStore, monkeypatch):
    from farga.symbols import review

    monkeypatch.setattr(review, "_drawings", lambda _: ({}, drawings(r"\spadesuit", ["a", "b"])))
    with pytest.raises(FargaError, match="cannot be approved yet"):
        review.approve(store, r"\spadesuit", RULES, "ana")
    assert ledger.decisions(store, "symbols") == {}
    with pytest.raises(FargaError, match="catalogue symbol"):
        review.approve(store, r"\alpha", RULES, "ana")
