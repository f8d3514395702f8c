"""The soak run's figures: per-minute rows from the clients' answers, and the bar judged on them."""

from __future__ import annotations

import pytest

from farga.dev.soak import Minute, SoakReport, minute_of
from farga.loadgen import Answer

pytestmark = pytest.mark.code


def test_a_minute_counts_its_answers_and_every_failure():
    answers = [Answer(at=5.0 + i / 10, route="symbols/predict", status=200, latency_s=0.010) for i in range(99)]
    answers += [
        Answer(at=30.0, route="fillmask/feedback", status=503, latency_s=0.5),
        Answer(at=31.0, route="symbols/predict", status=0, latency_s=0.001, outcome="ReadError"),
        Answer(at=61.0, route="symbols/predict", status=200, latency_s=0.020),  # the next minute
    ]
    row = minute_of(answers, 0)
    assert (row.minute, row.requests, row.errors) == (1, 101, 2)
    assert row.p50_ms == pytest.approx(10.0)
    assert row.p99_ms > 10.0  # the slow 503 is in the tail


def test_the_bar_is_judged_on_the_figures():
    def report(p99_last: float, growth: float, errors: int) -> SoakReport:
        rows = [Minute(1, 100, 1.7, 5.0, 20.0, 0), Minute(2, 100, 1.7, 5.0, p99_last, errors)]
        return SoakReport(2, 4, 100.0, 70.0, rows, {"worker 1": [(0.0, 400.0), (600.0, 400.0 + growth)]})

    assert all(met for _, _, met in report(25.0, 10.0, 0).checks())
    judged = {check: met for check, _, met in report(35.0, 60.0, 3).checks()}
    assert judged == {
        "RSS growth per worker < 50 MB": False,
        "p99 in the last minute <= 1.5x the first": False,
        "0 errors": False,
    }
