"""What does each symbols specialist give, alone and joined, and what would test-time shifts add?

Run after `dvc repro symbols-join` (the specialists in models/symbols-parts/, the prepared data):

    .venv/bin/python tools/symbols_specialists_study.py --out reports/symbols/specialists.json

Every candidate is exported and quantised as the pipeline does (int8, the training calibration
sample) and scored as the evaluation stage scores the served model: fold-1 test, the anonymous pool
and the identified writers, the writer-disjoint split, and the behavioural thicker-pen test. Then,
on the same machine in the same run, the in-process p50 at batch 1 (one thread, as served) of one
network and of the joined graph, and the joined graph averaged over one-pixel shifts of the input
(float, on the test and writer-disjoint splits). Not a pipeline step: a study for docs/experiments/.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from farga import components, cpu
from farga.hashing import read_json
from farga.loadtest import in_turns
from farga.onnx_runtime import OnnxModel
from farga.symbols.behaviour import behaviour
from farga.symbols.evaluate import score
from farga.symbols.export import export_onnx
from farga.symbols.model import Joined, SymbolCNN
from farga.symbols.params import SymbolsContext
from farga.symbols.prepare import WRITER_TEST, load_classes, load_split
from farga.symbols.preprocess import to_model_input
from farga.symbols.train import calibration_images, load_network, predict_logits

SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]


def scored(ctx: SymbolsContext, model: SymbolCNN | Joined, folder: Path) -> dict[str, float | None]:
    classes = load_classes(ctx.paths.prepared)
    x_train, _, _ = load_split(ctx.paths.prepared, "train")
    export_onnx(model, classes, folder, {"run_id": "study"}, calibration_images(x_train, ctx.config.train))
    facts = score(ctx, folder)
    by_writer = facts["test_by_writer"]
    assert isinstance(by_writer, dict)
    pen = [c.passed for c in behaviour(ctx, folder) if c.test == "invariance: thicker pen"]
    return {
        "test_top1": float(facts["test_top1"]),
        "test_top5": float(facts["test_top5"]),
        "pool_top1": by_writer.get("main_writer"),
        "identified_top1": by_writer.get("other_writers"),
        "writer_disjoint_top1": facts.get(f"{WRITER_TEST}_top1"),
        "writer_disjoint_writer_mean_top1": facts.get(f"{WRITER_TEST}_writer_mean_top1"),
        "thicker_pen_top3": float(np.mean(pen)) if pen else None,
    }


def p50_ms(folders: dict[str, Path], images: np.ndarray, repeats: int = 3000) -> dict[str, float]:
    """Each model's median latency at batch 1 on the same test drawings, the models taking turns."""
    inputs = [to_model_input(images[i % len(images)][None]) for i in range(256)]

    def runner(model: OnnxModel) -> Callable[[], object]:
        feed = itertools.cycle(inputs)
        return lambda: model.run(next(feed))

    runners = {name: runner(OnnxModel.load(folder, threads=1)) for name, folder in folders.items()}
    return {name: p["p50_ms"] for name, p in in_turns(runners, repeats, warmup=100).items()}


def shifted_top1(model: Joined, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1 of the joined float network as it is and with its log-probabilities averaged over shifts."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    views = [padded[:, 1 + dy : 33 + dy, 1 + dx : 33 + dx] for dx, dy in SHIFTS]
    scores = [torch.log_softmax(predict_logits(model, v), 1).numpy() for v in views]
    return {
        "as_is": float((scores[0].argmax(1) == labels).mean()),
        "shifts": float((np.mean(scores, 0).argmax(1) == labels).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    ctx: SymbolsContext = components.context("symbols")
    parts = list(ctx.config.train.specialists)
    networks = {part: load_network(ctx.paths.of_part(part).models) for part in parts}
    run = read_json(ctx.paths.models / "run.json")
    fitted = [float(run["specialists"][p]["weight"]) for p in parts]
    candidates: dict[str, SymbolCNN | Joined] = {f"{p} alone": n for p, n in networks.items()}
    fitted_name = "joined, fitted weights " + "/".join(f"{w:.2f}" for w in fitted)
    candidates[fitted_name] = Joined(list(networks.values()), fitted)
    even = [1 / len(parts)] * len(parts)
    if even != fitted:
        candidates["joined, even weights"] = Joined(list(networks.values()), even)
    results: dict[str, object] = {"machine": cpu.describe().summary(), "specialists": parts, "candidates": {}}
    test_x, test_y, _ = load_split(ctx.paths.prepared, "test")
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for name, model in candidates.items():
            folders[name] = Path(tmp) / name.replace(" ", "_").replace("/", "-")
            folders[name].mkdir()
            results["candidates"][name] = scored(ctx, model.eval(), folders[name])  # type: ignore[index]
            print(name, json.dumps(results["candidates"][name]), flush=True)  # type: ignore[index]
        for name, ms in p50_ms(folders, test_x).items():
            results["candidates"][name]["p50_ms"] = ms  # type: ignore[index]
            print(name, f"p50 {ms:.3f} ms", flush=True)
    joined = Joined(list(networks.values()), fitted).eval()
    writer_x, writer_y, _ = load_split(ctx.paths.prepared, WRITER_TEST)
    results["shifts"] = {
        split: shifted_top1(joined, x, y)
        for split, (x, y) in {"test": (test_x, test_y), WRITER_TEST: (writer_x, writer_y)}.items()
    }
    print("shifts", json.dumps(results["shifts"]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
