"""The HTTP half of every component's serving benchmark: Farga and a naive baseline under the same load.

A component names the requests to send (``Load``) and its baseline (``Baseline``, a plain endpoint
serving the same network in PyTorch eager, as tutorials do); this runs ``farga serve`` with its
exported model and then the baseline, ``wrk`` on loopback at each concurrency level, and reads
where each request's time went from the service's own stage timers (``farga.serving.stages``).
Each component's report is one section of docs/performance.md (``write_section``), so that one
component's run leaves the others' figures as they were.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from farga.loadtest import stage_means_ms, wrk
from farga.serving.process import ServerProcess, running_server

LEVELS = (1, 8, 32)
PROFILED_LEVEL = 8  # where a worker is sampled: busy, and not yet queueing most of the time
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
    profiles: dict[str, dict[str, float]] = field(default_factory=dict)  # row -> library -> share of samples


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
        server = ServerProcess(root, workers=workers, env=env)
        try:
            url = server.start().url
            pids = server.worker_pids()
            for c in levels:
                for load in loads:
                    row = f"farga_{load.name}_c{c}"
                    before, cpu_before = httpx.get(f"{url}/metrics").text, cpu_seconds(pids)
                    with ThreadPoolExecutor(1) as pool:
                        running = pool.submit(wrk, f"{url}{load.path}", load.body, load.content_type, c, seconds, work)
                        time.sleep(min(1.0, seconds / 2))
                        split = connections_per_worker(server.port, pids)
                        report.http[row] = running.result()
                    report.http[row]["connections"] = split
                    requests = report.http[row]["rps"] * seconds
                    report.http[row]["cpu_ms"] = 1000 * (cpu_seconds(pids) - cpu_before) / max(requests, 1)
                    report.stages[row] = stage_means_ms(before, httpx.get(f"{url}/metrics").text, load.path)
            for load in loads:  # a pass of its own, so that the sampler's cost is in no figure above
                row = f"farga_{load.name}_c{PROFILED_LEVEL}"
                sampler = sampling(pids[0], seconds, work / f"{row}.txt")
                wrk(f"{url}{load.path}", load.body, load.content_type, PROFILED_LEVEL, seconds, work)
                if sampler is not None:
                    report.profiles[row] = sampled(sampler, work / f"{row}.txt")
        finally:
            server.stop()
        # run as tutorials run it: `uvicorn main:app`, one process, PyTorch on its default threads (all cores)
        command = [sys.executable, "-m", "uvicorn", baseline.app, "--port", "{port}", "--log-level", "warning"]
        with running_server(root, env=baseline.env, command=command, ready_path="/health") as url:
            load = baseline.load
            for c in levels:
                report.http[f"baseline_{load.name}_c{c}"] = wrk(
                    f"{url}{load.path}", load.body, load.content_type, c, seconds, work
                )
    return report


def connections_per_worker(port: int, pids: list[int]) -> list[int]:
    """How the load's open connections are spread over the workers (``ss``; [] where it is missing):
    a worker's queue, and so the latency of its requests, grows with its share."""
    if shutil.which("ss") is None:
        return []
    listing = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    owners = [int(pid) for pid in re.findall(r"pid=(\d+)", listing)]
    return [owners.count(pid) for pid in pids]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used (every thread: the event loop, the log's
    writer, ONNX Runtime's): per request, what serving one costs the machine, whatever waits."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def sampling(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording one worker for ``seconds`` (None where py-spy is not installed)."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return None
    args = [spy, "record", "-p", str(pid), "-d", str(seconds), "-r", "250", "-f", "raw", "-o", str(out)]
    return subprocess.Popen([*args, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sampled(sampler: subprocess.Popen[bytes], out: Path) -> dict[str, float]:
    """The share of a worker's samples each library was running in (the innermost frame's), best first."""
    sampler.wait(timeout=120)
    counts: dict[str, int] = {}
    for line in out.read_text().splitlines() if out.exists() else []:
        stack, _, n = line.rpartition(" ")
        frame = stack.rsplit(";", 1)[-1]
        counts[library(frame)] = counts.get(library(frame), 0) + int(n)
    total = sum(counts.values()) or 1
    return {name: n / total for name, n in sorted(counts.items(), key=lambda kv: -kv[1])}


def library(frame: str) -> str:
    """``run (onnxruntime/capi/x.py:406)`` -> onnxruntime; farga's modules by package (farga.serving)."""
    match = re.search(r"\((.*?):\d+\)", frame)
    if match is None:
        return "other"
    parts = Path(match[1]).parts
    if "farga" in parts:
        inner = parts[parts.index("farga") + 1 :]
        return "farga." + inner[0].removesuffix(".py") if inner else "farga"
    return parts[0].removesuffix(".py")


def http_sections(report: HttpReport, compared: str) -> list[str]:
    """A component's HTTP figures as its report shows them: the levels, where a request's time goes,
    where a worker's CPU goes, and the ratios to the baseline (``compared``: on which request)."""
    return [
        *http_table(report.http),
        "",
        "### Where a request's time goes",
        "",
        *stage_table(report.stages),
        "",
        "### Where a worker's CPU goes, sampled",
        "",
        *profile_table(report.profiles),
        "",
        f"Throughput of Farga over the baseline{compared}:",
        "",
        *ratio_table(report.http),
    ]


def http_table(http: dict[str, dict[str, Any]]) -> list[str]:
    """wrk's figures per row, and the workers' CPU per request (Farga's rows)."""

    def cpu(v: dict[str, Any]) -> str:
        return f"{v['cpu_ms']:.2f} ms" if "cpu_ms" in v else ""

    def split(v: dict[str, Any]) -> str:
        return ":".join(str(n) for n in v.get("connections", []))

    return [
        "| service, request, concurrency | p50 | p99 | requests/s | non-2xx | worker CPU per request "
        "| connections per worker |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {k} | {v['p50_ms']:.2f} ms | {v['p99_ms']:.2f} ms | {v['rps']:.0f} | {v['non_2xx']} | {cpu(v)} "
            f"| {split(v)} |"
            for k, v in http.items()
        ],
    ]


def profile_table(profiles: dict[str, dict[str, float]], top: int = 10) -> list[str]:
    """Where one worker's time went by library, from py-spy's samples at the profiled level."""
    if not profiles:
        return ["(No sampling profile: py-spy is not installed, or may not trace processes here.)"]
    names = list(dict.fromkeys(name for shares in profiles.values() for name in list(shares)[:top]))
    return [
        f"One worker sampled by `py-spy` (250 Hz, innermost frame) at concurrency {PROFILED_LEVEL}: the share "
        "of its samples in each library, its threads together (the event loop, the prediction log's writer). "
        "`asyncio`/`uvloop` and `python` time includes waiting for the next request.",
        "",
        "| library | " + " | ".join(profiles) + " |",
        "|---|" + "---|" * len(profiles),
        *[table_row([name, *[f"{100 * shares.get(name, 0):.1f}%" for shares in profiles.values()]]) for name in names],
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
        after = rest.split(end, 1)[1].lstrip("\n")
        new = before + section + ("\n" + after if after else "")
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + section
    path.write_text(new, encoding="utf-8")
