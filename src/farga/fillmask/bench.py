"""``farga bench fillmask``: latency of the served predictor, in process and over HTTP.

In process, one sentence at a time (as the API gets them): the transformer alone and the served
mixture (transformer + trigram), on validation sentences. Over HTTP (``farga.serving_benchmark``),
``wrk`` on loopback against ``farga serve`` with the exported model and against a naive baseline
serving the same network in PyTorch eager (``bench_baseline``), at concurrency 1, 8 and 32.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from farga import cpu
from farga.errors import FargaError
from farga.fillmask.evaluate import split_examples
from farga.fillmask.params import FillmaskContext, FillmaskParams
from farga.fillmask.predictor import Predictor
from farga.loadtest import percentiles
from farga.onnx_runtime import has_float_twin
from farga.serving_benchmark import Baseline, Load, http_sections, measure

BODY = {"text": "La capital de Catalunya és <mask>.", "top_k": 5}
JSON = "application/json"


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
    timings = in_process(predictor, sentences, twin)
    body = json.dumps(BODY).encode()
    baseline_env = {"FARGA_BASELINE_MODEL": str(model_dir)}
    baseline = Baseline("farga.fillmask.bench_baseline:app", baseline_env, Load("text", "/predict", body, JSON))
    loads = [Load("text", "/v1/fillmask/predict", body, JSON)]
    measured = measure(root, "fillmask", model_dir, loads, baseline, workers, seconds)
    return "\n".join(
        [
            "## fillmask",
            "",
            f"Measured by `farga bench fillmask --seconds {seconds} --workers {workers}` on "
            f"{cpu.describe().summary()}, Farga with {workers} uvicorn workers, load from `wrk` on 127.0.0.1, "
            f"{seconds} s per level; trigram weight {predictor.ngram_weight}.",
            "",
            "### In process, one sentence",
            "",
            "| predictor | p50 | p99 |",
            "|---|---|---|",
            *(f"| {k} | {v['p50_ms']:.1f} ms | {v['p99_ms']:.1f} ms |" for k, v in timings.items()),
            "",
            "### HTTP `POST /v1/fillmask/predict`",
            "",
            f"`farga_text`: `{BODY['text']}`, top 5. `baseline_text`: the same body to the naive baseline "
            "(the trained network, `network.pt`, in PyTorch eager on all cores in a plain FastAPI endpoint, "
            "the sentence tokenised per request, no trigram, no logging, one uvicorn process). Farga answers "
            "with the served mixture (the int8 transformer and the trigram) and logs every prediction.",
            "",
            *http_sections(measured, ""),
            "",
        ]
    )
