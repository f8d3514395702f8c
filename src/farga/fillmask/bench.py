"""``farga bench fillmask``: latency of the served predictor, in process and over HTTP.

In process, one sentence at a time (as the API gets them): the transformer alone and the served
mixture (transformer + trigram), on validation sentences. Over HTTP, ``wrk`` on loopback against
``farga serve`` with the exported model, at concurrency 1 and 8.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from farga import cpu
from farga.errors import FargaError
from farga.fillmask.evaluate import split_examples
from farga.fillmask.params import FillmaskContext, FillmaskParams
from farga.fillmask.predictor import Predictor
from farga.loadtest import percentiles, wrk
from farga.onnx_runtime import has_float_twin
from farga.serving.process import running_server

BODY = {"text": "La capital de Catalunya és <mask>.", "top_k": 5}


def in_process(
    predictor: Predictor, sentences: list[list[str]], twin: Predictor | None = None
) -> dict[str, dict[str, float]]:
    """One sentence at a time: the transformer alone, the served mixture and, for an int8 model, the
    transformer's float twin (which FARGA_PRECISION=float would serve)."""
    out = {}
    runs = [("transformer", predictor, 0.0), ("served", predictor, predictor.ngram_weight)]
    if twin is not None:
        runs.append(("transformer, float graph", twin, 0.0))
    for label, runner, weight in runs:
        runner.log_probs(sentences[:20], ngram_weight=weight)  # warm up
        times = []
        for words in sentences:
            started = time.perf_counter()
            runner.log_probs([words], ngram_weight=weight)
            times.append(time.perf_counter() - started)
        out[label] = percentiles(times)
    return out


def bench(root: Path, seconds: int, workers: int) -> str:
    from farga.config import Settings

    model_dir = root / "models" / "fillmask"
    if not (model_dir / "model.onnx").exists():
        raise FargaError(f"{model_dir / 'model.onnx'} is missing: run the pipeline first (make run)")
    predictor = Predictor.load(model_dir)
    ctx = FillmaskContext.load("fillmask", FillmaskParams, Settings(root=root))
    sentences = [
        ex.masked for ex in split_examples(ctx, predictor, "val", ctx.config.evaluate.positions, 0).items[:300]
    ]
    twin = Predictor.load(model_dir, precision="float") if has_float_twin(model_dir) else None
    report: dict[str, Any] = {"in_process": in_process(predictor, sentences, twin), "http": {}}
    if shutil.which("wrk"):
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                "FARGA_COMPONENTS": "fillmask",
                "FARGA_MODEL_DIR_FILLMASK": str(model_dir),
                "FARGA_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            }
            with running_server(root, workers=workers, env=env) as url:
                for c in (1, 8):
                    body = json.dumps(BODY).encode()
                    report["http"][c] = wrk(
                        f"{url}/v1/fillmask/predict", body, "application/json", c, seconds, Path(tmp)
                    )
    lines = [
        f"# fillmask serving benchmark\n\n`farga bench fillmask --seconds {seconds} --workers {workers}` on "
        f"{cpu.describe().summary()}; trigram weight "
        f"{predictor.ngram_weight}.\n",
        "| in process, one sentence | p50 | p99 |",
        "|---|---|---|",
        *(f"| {k} | {v['p50_ms']:.1f} ms | {v['p99_ms']:.1f} ms |" for k, v in report["in_process"].items()),
    ]
    if report["http"]:
        lines += [
            "",
            "| HTTP `POST /v1/fillmask/predict` | p50 | p99 | requests/s | non-2xx |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| concurrency {c} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['rps']:.0f} | {r['non_2xx']} |"
            for c, r in report["http"].items()
        ]
    else:
        lines += ["", "(HTTP skipped: wrk is not installed; `make system-deps` installs it)"]
    return "\n".join(lines) + "\n"
