"""Load from outside the service: ``wrk`` on loopback; the percentiles every benchmark reports, and
in-process latencies timed in turns.

wrk is a C load generator with one thread: on two cores a second would take CPU from the server
under test, and a Python client would take more than the services answer. Components' benchmarks,
the scale-out benchmark and the soak use these.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.array(samples_s) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def in_turns(runners: Mapping[str, Callable[[], object]], runs: int, warmup: int = 200) -> dict[str, dict[str, float]]:
    """Each runner's latency percentiles in process, the runners taking turns call by call, so that
    whatever else the machine does in the meantime falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for i in range(warmup + runs):
        for name, fn in runners.items():
            started = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append(time.perf_counter() - started)
    return {name: percentiles(samples) for name, samples in times.items()}


def stage_sums(metrics_text: str, route: str) -> dict[str, tuple[float, float]]:
    """(seconds, requests) of each stage of ``route`` in a /metrics page (``farga_request_stage_seconds``)."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "farga_request_stage_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("route") == route and sample.name.endswith(("_sum", "_count")):
                slot = sums.setdefault(sample.labels["stage"], [0.0, 0.0])
                slot[sample.name.endswith("_count")] += sample.value
    return {stage: (seconds, n) for stage, (seconds, n) in sums.items()}


def stage_deltas(before: str, after: str, route: str) -> dict[str, tuple[float, float]]:
    """(seconds, requests) of each stage of ``route`` between two /metrics pages; stages no request
    went through in between are left out."""
    start, end = stage_sums(before, route), stage_sums(after, route)
    deltas = {}
    for stage, (seconds, n) in end.items():
        was_s, was_n = start.get(stage, (0.0, 0.0))
        if n > was_n:
            deltas[stage] = (seconds - was_s, n - was_n)
    return deltas


def stage_means_ms(before: str, after: str, route: str) -> dict[str, float]:
    """Mean milliseconds per request of each stage of ``route`` between two /metrics pages."""
    return {stage: 1000 * seconds / n for stage, (seconds, n) in stage_deltas(before, after, route).items()}


def wrk(url: str, body: bytes, content_type: str, connections: int, seconds: int, workdir: Path) -> dict[str, Any]:
    body_file = workdir / f"body-{abs(hash(body))}.bin"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{content_type}"\n'
    )
    # one load thread: on two cores a second one takes CPU from the server under test (wrk drives
    # far more than these services answer from one thread)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            raise RuntimeError(f"could not read the {label}th percentile from wrk:\n{out}")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "rps": rps,
        "non_2xx": int(non2xx[1]) if non2xx else 0,
        "socket_errors": errors[0] if errors else "",
    }
