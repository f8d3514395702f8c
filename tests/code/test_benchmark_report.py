"""The benchmark's report: every figure in the table, each target judged against the measured value."""

import pytest

from farga.loadtest import in_turns, stage_means_ms
from farga.symbols.benchmark import markdown, targets

pytestmark = pytest.mark.code


def level(p50: float, p99: float, rps: float) -> dict:
    return {"p50_ms": p50, "p99_ms": p99, "rps": rps, "non_2xx": 0, "socket_errors": ""}


REPORT = {
    "machine": "x86_64, 2 cores",
    "workers": 2,
    "seconds_per_level": 8,
    "in_process": {
        "onnxruntime int8 (served), 1 thread": {"p50_ms": 0.25, "p99_ms": 0.4},
        "pytorch eager float, 1 thread": {"p50_ms": 1.2, "p99_ms": 1.8},
    },
    "http": {
        "farga_strokes_c1": level(2.0, 4.0, 450),
        "farga_image_c1": level(6.0, 9.0, 300),
        "farga_image_c8": level(12.0, 25.0, 900),
        "baseline_image_c1": level(2.5, 5.0, 100),
        "baseline_image_c8": level(24.0, 35.0, 330),
    },
}


def test_each_target_is_judged_on_its_own_figure():
    report = {**REPORT, "http": {**REPORT["http"], "farga_strokes_c8": level(9.0, 13.0, 800)}}
    report["http"] |= {"farga_strokes_c32": level(30.0, 60.0, 990), "farga_image_c32": level(30.0, 60.0, 1000)}
    judged = {name: (value, ok) for name, value, ok in targets(report)}
    assert judged["HTTP p50 <= 5 ms at concurrency 1 (strokes)"] == ("2.00 ms", True)
    assert judged["HTTP p50 <= 5 ms at concurrency 1 (image)"] == ("6.00 ms", False)
    assert judged["HTTP p99 <= 12 ms at concurrency 8 (strokes)"] == ("13.00 ms", False)
    assert judged["strokes throughput >= image throughput at concurrency 32"] == ("0.99x", False)
    assert judged["throughput >= 1.2x the baseline at concurrency 1"] == ("3.0x", True)
    assert judged["throughput >= 4x the baseline at concurrency 8"] == ("2.7x", False)


def test_the_concurrency_1_row_is_measured_not_a_constant():
    slower = {**REPORT, "http": {**REPORT["http"], "farga_image_c1": {**REPORT["http"]["farga_image_c1"], "rps": 110}}}
    judged = {name: (value, ok) for name, value, ok in targets(slower)}
    assert judged["throughput >= 1.2x the baseline at concurrency 1"] == ("1.1x", False)


def test_the_markdown_names_the_command_and_every_level():
    text = markdown(REPORT, "farga bench symbols --seconds 8 --workers 2")
    assert "`farga bench symbols --seconds 8 --workers 2`" in text
    assert "| farga_image_c8 | 12.00 ms | 25.00 ms | 900 | 0 |" in text
    assert "| throughput >= 4x the baseline at concurrency 8 | 2.7x | **no** |" in text


def test_in_process_latencies_are_timed_in_turns_after_a_warm_up():
    """Runners alternate call by call (load on the machine falls on all alike); warm-up calls are not timed."""
    calls: list[str] = []
    report = in_turns({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=5, warmup=2)
    assert calls == ["a", "b"] * 7
    assert set(report) == {"a", "b"}
    assert all(0 <= r["p50_ms"] <= r["p99_ms"] for r in report.values())


def test_stage_means_are_read_from_two_metrics_pages_for_one_route():
    def page(parse_s: float, parse_n: int, other_n: int) -> str:
        return "\n".join(
            [
                "# HELP farga_request_stage_seconds Time a request spent in each stage",
                "# TYPE farga_request_stage_seconds histogram",
                f'farga_request_stage_seconds_sum{{route="/v1/a",stage="parse"}} {parse_s}',
                f'farga_request_stage_seconds_count{{route="/v1/a",stage="parse"}} {parse_n}',
                f'farga_request_stage_seconds_sum{{route="/v1/b",stage="parse"}} {other_n}',
                f'farga_request_stage_seconds_count{{route="/v1/b",stage="parse"}} {other_n}',
                "",
            ]
        )

    assert stage_means_ms(page(0.5, 10, 3), page(0.8, 110, 90), "/v1/a") == pytest.approx({"parse": 3.0})
    assert stage_means_ms(page(0.5, 10, 3), page(0.5, 10, 90), "/v1/a") == {}  # no request in between


def test_each_component_writes_its_own_section_and_keeps_the_others(tmp_path):
    from farga.serving_benchmark import write_section

    doc = tmp_path / "performance.md"
    write_section(doc, "symbols", "## symbols\n\nfirst run\n")
    write_section(doc, "fillmask", "## fillmask\n\nits run\n")
    write_section(doc, "symbols", "## symbols\n\nsecond run\n")
    text = doc.read_text()
    assert text.startswith("# Serving performance")
    assert "second run" in text
    assert "first run" not in text
    assert "its run" in text
    assert text.index("## symbols") < text.index("## fillmask")  # a rerun keeps its place
    assert text.count("## symbols") == 1
    assert "<!-- end farga bench symbols -->\n\n<!-- farga bench fillmask -->" in text  # sections apart


def test_farga_is_compared_with_the_baseline_on_the_request_both_were_sent():
    from farga.serving_benchmark import ratios

    http = REPORT["http"] | {"farga_text_c8": level(1, 2, 50), "baseline_text_c8": level(1, 2, 25)}
    assert ratios(http) == pytest.approx({("image", 1): 3.0, ("image", 8): 900 / 330, ("text", 8): 2.0})
    assert ("text", 32) not in ratios({**http, "baseline_text_c32": level(1, 2, 10)})  # Farga's row is missing


def test_a_sampled_frame_is_put_to_its_library_and_the_shares_add_up(tmp_path):
    import subprocess
    import sys

    from farga.serving_benchmark import library, profile_table, sampled

    assert library("Session.run (onnxruntime/capi/onnxruntime_inference_collection.py:406)") == "onnxruntime"
    assert library("flush (farga/serving/protocol.py:35)") == "farga.serving"
    assert library("wait (threading.py:331)") == "threading"
    assert library("") == "other"
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (x.py:1);run (asyncio/runners.py:118);Session.run (onnxruntime/capi/s.py:406) 6\n"
        "main (x.py:1);render_strokes (farga/symbols/strokes.py:51) 3\n"
        "main (x.py:1);observe (prometheus_client/metrics.py:679) 1\n"
    )
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    shares = sampled(done, raw)
    assert list(shares) == ["onnxruntime", "farga.symbols", "prometheus_client"]
    assert shares == pytest.approx({"onnxruntime": 0.6, "farga.symbols": 0.3, "prometheus_client": 0.1})
    table = profile_table({"farga_strokes_c8": shares})
    assert "| onnxruntime | 60.0% |" in table
    assert "py-spy" in profile_table({})[0]  # no profile: said, not left out silently
