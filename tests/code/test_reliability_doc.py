"""docs/reliability.md is made from the committed reports, never typed: it must match them."""

from __future__ import annotations

import json

import pytest

from farga.dev import reliability
from support import REPO

pytestmark = pytest.mark.code


def test_the_reliability_page_is_the_committed_reports_rendered():
    faults = json.loads((REPO / reliability.FAULTS).read_text(encoding="utf-8"))
    soak = json.loads((REPO / reliability.SOAK).read_text(encoding="utf-8"))
    abuse = json.loads((REPO / reliability.ABUSE).read_text(encoding="utf-8"))
    assert (REPO / reliability.PAGE).read_text(encoding="utf-8") == reliability.render(faults, soak, abuse)


def test_the_fault_report_covers_every_fault_the_suite_injects():
    cases = " ".join(r["case"] for r in json.loads((REPO / reliability.FAULTS).read_text(encoding="utf-8")))
    for fault in ("hostile-input", "kill -9", "SIGTERM", "PostgreSQL stopped", "full filesystem", "random words"):
        assert fault in cases


def test_the_abuse_report_covers_every_attack_the_suite_makes():
    cases = " ".join(r["case"] for r in json.loads((REPO / reliability.ABUSE).read_text(encoding="utf-8")))
    for attack in ("forged X-Forwarded-For", "not its proxy", "IPv6", "floods", "3 retrains"):
        assert attack in cases


def test_the_soak_met_its_bar():
    soak = json.loads((REPO / reliability.SOAK).read_text(encoding="utf-8"))
    assert len(soak["minutes"]) >= 10
    assert all(check["met"] for check in soak["checks"]), soak["checks"]
