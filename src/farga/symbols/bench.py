"""``farga bench symbols``: the serving benchmark (``farga.benchmark``) on the exported model."""

from __future__ import annotations

from pathlib import Path

from farga.errors import FargaError
from farga.symbols import benchmark


def bench(root: Path, seconds: int, workers: int) -> str:
    model = root / "models" / "symbols" / "model.onnx"
    if not model.exists():
        raise FargaError(f"{model} is missing: run the pipeline first (make run)")
    report = benchmark.run(root, model, seconds, workers, (1, 8, 32))
    return benchmark.markdown(report, f"farga bench symbols --seconds {seconds} --workers {workers}")
