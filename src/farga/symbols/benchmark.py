"""The serving benchmark: ONNX Runtime in process, and HTTP under load, Farga against a naive baseline.

Load comes from ``wrk`` on loopback, one thread (a C load generator, so the client takes little
of the server's CPU, as a Python client would not). Every figure is printed by one run of
``farga bench symbols``; ``--out docs/performance.md`` also writes them there with the command.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from farga import cpu
from farga.loadgen import sample_request
from farga.loadtest import in_turns
from farga.onnx_runtime import OnnxModel, graph_file, has_float_twin
from farga.serving_benchmark import Baseline, HttpReport, Load, http_sections, measure, ratios

# Throughput is capacity: compared where the load keeps both services busy. At concurrency 1 the
# requests/s figure is the inverse of one request's latency, which the p50 target already judges.
CAPACITY_FROM = 8


def float_graph(model_path: Path) -> Path:
    """The float graph a served int8 model was quantised from (the served file itself when it is float)."""
    return graph_file(model_path.parent, "float")


# in_process's labels of the two graphs of an int8 model, each on one thread (what a worker runs)
INT8_ONE_THREAD, FLOAT_ONE_THREAD = "onnxruntime int8 (served), 1 thread", "onnxruntime float, 1 thread"


def faster_graph(in_process: dict[str, dict[str, float]]) -> str | None:
    """Which graph of an int8 model answers sooner at batch 1 on this CPU: the FARGA_PRECISION to serve."""
    if INT8_ONE_THREAD not in in_process or FLOAT_ONE_THREAD not in in_process:
        return None
    return "int8" if in_process[INT8_ONE_THREAD]["p50_ms"] <= in_process[FLOAT_ONE_THREAD]["p50_ms"] else "float"


def in_process(model_path: Path, runs: int = 3000) -> dict[str, dict[str, float]]:
    import torch

    from farga.symbols.bench_baseline import EagerOnnx

    served = "int8" if has_float_twin(model_path.parent) else "float"
    x = (np.random.default_rng(0).random((1, 1, 32, 32)) > 0.85).astype(np.float32)  # an ink-like map
    one, two = OnnxModel.load(model_path, threads=1), OnnxModel.load(model_path, threads=2)
    runners: list[tuple[str, Callable[[], object]]] = [
        (f"onnxruntime {served} (served), 1 thread", lambda: one.run(x)),
        (f"onnxruntime {served} (served), 2 threads", lambda: two.run(x)),
    ]
    if served == "int8":
        reference = OnnxModel.load(float_graph(model_path), threads=1)
        runners.append((FLOAT_ONE_THREAD, lambda: reference.run(x)))
    eager = EagerOnnx(str(float_graph(model_path))).eval()
    torch.set_num_threads(1)
    runners.append(("pytorch eager float, 1 thread", lambda: eager(torch.from_numpy(x))))
    with torch.no_grad():
        return in_turns(dict(runners), runs)


def png_body() -> tuple[bytes, str]:
    from PIL import Image, ImageDraw

    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).line([(20, 180), (100, 20), (180, 180)], fill=0, width=6)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    boundary = "farga-bench-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + buf.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def run(root: Path, model_path: Path, seconds: int, workers: int, levels: tuple[int, ...]) -> dict[str, Any]:
    png, png_type = png_body()
    route = "/v1/symbols/predict"
    loads = [
        Load("strokes", route, sample_request("symbols"), "application/json"),
        Load("image", route, png, png_type),
    ]
    baseline = Baseline(
        "farga.symbols.bench_baseline:app",
        {"FARGA_BASELINE_MODEL": str(float_graph(model_path))},
        Load("image", "/predict", png, png_type),
    )
    report = {
        "machine": cpu.describe().summary(),
        "workers": workers,
        "seconds_per_level": seconds,
        "in_process": in_process(model_path),
    }
    measured = measure(root, "symbols", model_path.parent, loads, baseline, workers, seconds, levels)
    return report | {"http": measured.http, "stages": measured.stages, "profiles": measured.profiles}


def markdown(report: dict[str, Any], command: str) -> str:
    ip = report["in_process"]
    lines = [
        "## symbols",
        "",
        f"Measured by `{command}` on this project's machine ({report['machine']}), "
        f"Farga with {report['workers']} uvicorn workers, load from `wrk` on 127.0.0.1, "
        f"{report['seconds_per_level']} s per level.",
        "",
        "### In process, batch 1",
        "",
        "| runtime | p50 | p99 |",
        "|---|---|---|",
        *[f"| {k} | {v['p50_ms']:.3f} ms | {v['p99_ms']:.3f} ms |" for k, v in ip.items()],
        "",
        *precision_advice(ip),
        "### HTTP `POST /v1/symbols/predict`",
        "",
        "`farga_strokes`: JSON strokes (the web page's request); `farga_image`: a 200x200 PNG upload; "
        "`baseline_image`: the same PNG to the naive baseline (the same network's float weights in PyTorch "
        "eager, in a plain FastAPI endpoint, PIL preprocessing per request, no logging, one uvicorn process "
        "as tutorials run it, PyTorch on all cores). Farga also logs every prediction (input, model input, "
        "candidates) to its SQLite store, from a background writer in batches.",
        "",
        *http_sections(
            HttpReport(report["http"], report.get("stages", {}), report.get("profiles", {})), " (same PNG request)"
        ),
        "",
        "### Against the targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *[f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in targets(report)],
        "",
    ]
    return "\n".join(lines)


def precision_advice(in_process: dict[str, dict[str, float]]) -> list[str]:
    """A line saying which graph to serve on this CPU (none for a float-only model)."""
    faster = faster_graph(in_process)
    if faster is None:
        return []
    int8, fp = in_process[INT8_ONE_THREAD]["p50_ms"], in_process[FLOAT_ONE_THREAD]["p50_ms"]
    measured = f"p50 {int8:.3f} ms int8, {fp:.3f} ms float"
    return [
        f"On this CPU the {faster} graph is faster at batch 1 ({measured}); `FARGA_PRECISION=auto`, the "
        "default, times both where the model loads and serves the faster (unless float is no more than "
        "10% faster: then int8).",
        "",
    ]


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The serving bar (issue 34, on the earlier latency targets), checked against this run's figures."""
    http = report["http"]
    rows = []
    for kind in ("strokes", "image"):
        if (c1 := http.get(f"farga_{kind}_c1")) is not None:
            rows.append((f"HTTP p50 <= 5 ms at concurrency 1 ({kind})", f"{c1['p50_ms']:.2f} ms", c1["p50_ms"] <= 5))
    if (c8 := http.get("farga_strokes_c8")) is not None:
        rows.append(("HTTP p99 <= 12 ms at concurrency 8 (strokes)", f"{c8['p99_ms']:.2f} ms", c8["p99_ms"] <= 12))
    if (strokes := http.get("farga_strokes_c32")) and (image := http.get("farga_image_c32")):
        ratio = strokes["rps"] / image["rps"]
        rows.append(("strokes throughput >= image throughput at concurrency 32", f"{ratio:.2f}x", ratio >= 1))
    for (_, level), ratio in ratios(http).items():
        # one request at a time, requests/s is 1 / latency; under load, the capacity of 2 cores
        need = 1.2 if level < CAPACITY_FROM else 4.0
        rows.append((f"throughput >= {need:g}x the baseline at concurrency {level}", f"{ratio:.1f}x", ratio >= need))
    return rows
