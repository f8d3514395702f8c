"""The HTTP half of every component's serving benchmark: Farga and a naive baseline under the same load.

A component names the requests to send (``Load``) and its baseline (``Baseline``, a plain endpoint
serving the same network in PyTorch eager, as tutorials do); this runs ``farga serve`` with its
exported model and then the baseline, ``wrk`` on loopback at each concurrency level, and reads
where each request's time went from the service's own stage timers (``farga.serving.stages``).
Each component's report is one section of docs/performance.md (``write_section``), so that one
component's run leaves the others' figures as they were.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from farga.loadtest import stage_means_ms, wrk
from farga.serving.process import running_server

LEVELS = (1, 8, 32)
HEADER = (
    "# Serving performance\n\nEach component's section is written by `farga bench <component> --out "
    "docs/performance.md` (`make bench` runs them all) on the machine it names; figures from different "
    "machines are not comparable.\n"
)
STAGE_ORDER = ("middleware", "parse", "validate", "render", "decode", "inference", "log", "serialise", "respond")


@dataclass(frozen=True)
class Load:
    """One request a benchmark sends over and over."""

    name: str  # its rows are farga_<name>_c<level> (baseline_<name>_c<level> for the baseline's)
    path: str
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Baseline:
    """The naive service: an ASGI app (``module:attribute``) run by ``uvicorn`` in one process."""

    app: str
    env: dict[str, str]
    load: Load  # what it is sent: the same body as the Farga load of the same name, at its own path


@dataclass
class HttpReport:
    http: dict[str, dict[str, Any]] = field(default_factory=dict)  # row -> wrk's figures
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # row -> stage -> mean ms


def measure(
    root: Path,
    component: str,
    model_dir: Path,
    loads: list[Load],
    baseline: Baseline,
    workers: int,
    seconds: int,
    levels: tuple[int, ...] = LEVELS,
) -> HttpReport:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (make bench does it)")
    report = HttpReport()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {
            "FARGA_COMPONENTS": component,
            f"FARGA_MODEL_DIR_{component.upper()}": str(model_dir),
            "FARGA_DATABASE_URL": f"sqlite:///{work}/bench.db",
        }
        with running_server(root, workers=workers, env=env) as url:
            for c in levels:
                for load in loads:
                    row = f"farga_{load.name}_c{c}"
                    before = httpx.get(f"{url}/metrics").text
                    report.http[row] = wrk(f"{url}{load.path}", load.body, load.content_type, c, seconds, work)
                    report.stages[row] = stage_means_ms(before, httpx.get(f"{url}/metrics").text, load.path)
        # run as tutorials run it: `uvicorn main:app`, one process, PyTorch on its default threads (all cores)
        command = [sys.executable, "-m", "uvicorn", baseline.app, "--port", "{port}", "--log-level", "warning"]
        with running_server(root, env=baseline.env, command=command, ready_path="/health") as url:
            load = baseline.load
            for c in levels:
                report.http[f"baseline_{load.name}_c{c}"] = wrk(
                    f"{url}{load.path}", load.body, load.content_type, c, seconds, work
                )
    return report


def http_table(http: dict[str, dict[str, Any]]) -> list[str]:
    return [
        "| service, request, concurrency | p50 | p99 | requests/s | non-2xx |",
        "|---|---|---|---|---|",
        *[
            f"| {k} | {v['p50_ms']:.2f} ms | {v['p99_ms']:.2f} ms | {v['rps']:.0f} | {v['non_2xx']} |"
            for k, v in http.items()
        ],
    ]


def ratios(http: dict[str, dict[str, Any]]) -> dict[tuple[str, int], float]:
    """Farga's throughput over the baseline's, per (request, level), on the request both were sent."""
    out = {}
    for key, base in http.items():
        if match := re.fullmatch(r"baseline_(\w+)_c(\d+)", key):
            farga = http.get(f"farga_{match[1]}_c{match[2]}")
            if farga is not None:
                out[(match[1], int(match[2]))] = farga["rps"] / base["rps"]
    return out


def ratio_table(http: dict[str, dict[str, Any]]) -> list[str]:
    rows = [f"| {name} | {c} | {r:.1f}x |" for (name, c), r in ratios(http).items()]
    return ["| request | concurrency | ratio |", "|---|---|---|", *rows]


def stage_table(stages: dict[str, dict[str, float]]) -> list[str]:
    """Where a request's time goes in the service, per load level: the mean of each stage's timer
    (``farga_request_stage_seconds``, every request) over the level. Time queued before the service
    reads a request (in the kernel, in uvicorn) is in no stage: the client's latency minus their sum."""
    if not stages:
        return []
    names = [s for s in STAGE_ORDER if any(s in row for row in stages.values())]
    names += sorted({s for row in stages.values() for s in row} - set(names))
    return [
        "Mean milliseconds per request in each stage, timed inside the service on every request "
        "(`farga_request_stage_seconds`) over the level's load: middleware (limits, client identity, the "
        "body read), JSON parsing, validation (with multipart parsing for an upload), the component's "
        "own preparation (rendering strokes, decoding an image), inference (preprocessing, the network, "
        "top-k), logging the prediction, serialising the answer, and handing it back through the "
        "middleware. Time a request waits before the service reads it is in no stage. Under load the "
        "middleware column is mostly waiting: a worker computes one request at a time on its event loop, "
        "so a request's body is read when the requests ahead of it are done; the other columns are each "
        "request's own work.",
        "",
        "| request, concurrency | " + " | ".join(names) + " | in the service |",
        "|---|" + "---|" * (len(names) + 1),
        *[
            table_row([key, *[f"{row[n]:.3f}" if n in row else "" for n in names], f"{sum(row.values()):.3f}"])
            for key, row in stages.items()
        ],
    ]


def table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_section(path: Path, component: str, text: str) -> None:
    """Put ``component``'s report in ``path``, replacing that component's earlier one and keeping the rest."""
    start, end = f"<!-- farga bench {component} -->", f"<!-- end farga bench {component} -->"
    section = f"{start}\n{text.strip()}\n{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if start in old and end in old:
        before, rest = old.split(start, 1)
        new = before + section + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + section
    path.write_text(new, encoding="utf-8")
