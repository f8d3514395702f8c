"""Scoring the exported ONNX model (the exact artifact that will be served) on the test fold.

Beyond top-k accuracy: macro-F1, per-class accuracy, accuracy by symbol family, by writer (the
main writer holds ~91% of HASYv2) and "correct up to a confusable group" — the part of the error
that no model can remove because writers draw those symbols alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score

from farga import cpu, energy, tracking
from farga.calibration import measure
from farga.facts import Facts
from farga.hashing import read_json, write_json
from farga.onnx_runtime import OnnxModel, has_float_twin
from farga.plots import plot_bars, plot_confusion
from farga.symbols import catalogue
from farga.symbols.inference import infer, symbol_ids
from farga.symbols.params import SymbolsContext
from farga.symbols.prepare import FEEDBACK_TEST, WRITER_TEST, load_split


def predict_symbol_ids(model: OnnxModel, images: np.ndarray, k: int = 5) -> np.ndarray:
    """(N, k) symbol ids, best first, in the model's own label map (so any model can be scored)."""
    return ranked(model, infer(model, images)[0], k)


def ranked(model: OnnxModel, probs: np.ndarray, k: int = 5) -> np.ndarray:
    return symbol_ids(model)[np.argsort(-probs, axis=1)[:, :k]]


def top_k_rates(topk: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """How often the truth is first, in the first 3, in the first 5 of the ranked ids."""
    return {f"top{k}": float((topk[:, :k] == truth[:, None]).any(1).mean()) for k in (1, 3, 5)}


def score_predictions(
    topk: np.ndarray, truth: np.ndarray, manifest: pd.DataFrame, known: dict[int, catalogue.Symbol]
) -> dict[str, Any]:
    top1 = topk[:, 0]
    hit = top1 == truth
    names = sorted({*truth.tolist(), *top1.tolist()})
    group = dict(zip(names, catalogue.confusable_index([known[i].latex for i in names]), strict=True))
    up_to_group = np.array([group[p] == group[t] for p, t in zip(top1, truth, strict=True)])
    family = np.array([known[int(t)].family for t in truth])
    main_writer = manifest.writer.value_counts().index[0] if len(manifest) else -1
    is_main = (manifest.writer == main_writer).to_numpy()

    def acc(mask: np.ndarray) -> float | None:
        return float(hit[mask].mean()) if mask.any() else None

    return {
        **top_k_rates(topk, truth),
        "macro_f1": float(f1_score(truth, top1, average="macro", labels=np.unique(truth), zero_division=0)),
        "top1_up_to_confusable": float(up_to_group.mean()),
        "n": len(truth),
        "by_family": {f: acc(family == f) for f in catalogue.FAMILIES if (family == f).any()},
        "by_writer": {"main_writer": acc(is_main), "other_writers": acc(~is_main)},
    }


def per_class_table(topk: np.ndarray, truth: np.ndarray, known: dict[int, catalogue.Symbol]) -> pd.DataFrame:
    frame = pd.DataFrame({"symbol_id": truth, "top1": topk[:, 0] == truth, "top5": (topk == truth[:, None]).any(1)})
    table = frame.groupby("symbol_id").agg(n=("top1", "size"), top1=("top1", "mean"), top5=("top5", "mean"))
    table.insert(0, "latex", [known[i].latex for i in table.index])
    table.insert(1, "family", [known[i].family for i in table.index])
    return table.reset_index().sort_values(["top1", "n"], ascending=[True, False])


def feedback_scores(model: OnnxModel, prepared: Path) -> dict[str, Any]:
    """Top-1 on the held-out user feedback: drawings from real traffic, labelled by the users ({} if none).
    The classes learnt from users have no other test: each is reported on its own held-out drawings
    (``feedback_learnt_top1`` over all of them; a model that does not know a class scores 0 there)."""
    images, _, rows = load_split(prepared, FEEDBACK_TEST)
    if rows.empty:
        return {}
    top1 = predict_symbol_ids(model, images, k=1)[:, 0]
    truth = rows.symbol_id.to_numpy()
    scores: dict[str, Any] = {"feedback_top1": float((top1 == truth).mean()), "feedback_n": len(rows)}
    learnt = ~np.isin(truth, list(catalogue.by_id()))
    if learnt.any():
        scores["feedback_learnt_top1"] = float((top1[learnt] == truth[learnt]).mean())
        scores["feedback_learnt_n"] = int(learnt.sum())
        scores["feedback_learnt_by_class"] = {  # by id: a LaTeX command is no MLflow metric name
            str(sid): float(np.mean(top1[learnt][truth[learnt] == sid] == sid)) for sid in sorted(set(truth[learnt]))
        }
    return scores


def writer_scores(model: OnnxModel, prepared: Path) -> dict[str, Any]:
    """Top-k on the drawings of writers held out of training: the figure closest to a new user's ({} if none).

    ``writer_mean_top1`` weighs every writer alike: most identified writers drew a handful of symbols,
    a few drew hundreds, and the image-level figure is mostly theirs."""
    images, _, rows = load_split(prepared, WRITER_TEST)
    if rows.empty:
        return {}
    truth = rows.symbol_id.to_numpy()
    topk = predict_symbol_ids(model, images)
    hit = topk[:, 0] == truth
    scores = {
        **top_k_rates(topk, truth),
        "writer_mean_top1": float(pd.Series(hit).groupby(rows.writer.to_numpy()).mean().mean()),
        "n": len(rows),
        "writers": int(rows.writer.nunique()),
    }
    return {f"{WRITER_TEST}_{k}": v for k, v in scores.items()}


def score(ctx: SymbolsContext, model_dir: Path) -> Facts:
    """Any exported model directory, scored on the current test set and held-out feedback (the registry gate)."""
    images, _, manifest = load_split(ctx.paths.prepared, "test")
    model = OnnxModel.load(model_dir)
    topk = predict_symbol_ids(model, images)
    scores = score_predictions(topk, manifest.symbol_id.to_numpy(), manifest, catalogue.with_learnt(model.labels))
    held_out = writer_scores(model, ctx.paths.prepared) | feedback_scores(model, ctx.paths.prepared)
    return {f"test_{k}": v for k, v in scores.items()} | held_out


def evaluate(ctx: SymbolsContext) -> Facts:
    images, _, manifest = load_split(ctx.paths.prepared, "test")
    model_dir, reports = ctx.paths.models, ctx.paths.reports
    reports.mkdir(parents=True, exist_ok=True)
    model = OnnxModel.load(model_dir)
    truth = manifest.symbol_id.to_numpy()
    with energy.track("evaluate") as used:
        probs, _ = infer(model, images)
    topk = ranked(model, probs)
    known = catalogue.with_learnt(model.labels)
    metrics = {f"test_{k}": v for k, v in score_predictions(topk, truth, manifest, known).items()}
    if model.calibration:  # how the "not sure" threshold fitted on validation holds up on test
        unsure = measure(probs.max(1), topk[:, 0] == truth, float(model.calibration["threshold"]))
        metrics["test_sure_precision"], metrics["test_sure_coverage"] = unsure["precision"], unsure["coverage"]
    metrics.update(writer_scores(model, ctx.paths.prepared) | feedback_scores(model, ctx.paths.prepared))
    if has_float_twin(model_dir):  # the served file is int8: what does that cost on this machine?
        float_top1 = predict_symbol_ids(OnnxModel.load(model_dir, precision="float"), images, k=1)[:, 0]
        metrics["test_top1_float"] = float((float_top1 == truth).mean())
    machine = cpu.describe()
    metrics["machine"] = machine.to_json()  # int8 kernels, and so the int8 figures, depend on it
    run_info = read_json(model_dir / "run.json")
    metrics["val_top1"] = run_info["val_top1"]
    metrics["train_seconds"] = run_info["train_seconds"]
    metrics.update(energy.as_metrics(run_info["energy"]) | energy.as_metrics(used))

    table = per_class_table(topk, truth, known)
    table.to_csv(reports / "per_class.csv", index=False)
    ids = sorted(catalogue.by_id()) if len(set(truth)) > 50 else sorted(set(truth))
    matrix = confusion_matrix(truth, topk[:, 0], labels=ids)
    plots = [
        plot_confusion(matrix, [known[i].latex for i in ids], reports / "confusion.png"),
        plot_bars(
            {k: v for k, v in metrics["test_by_family"].items() if v is not None},
            reports / "families.png",
            "Test top-1 accuracy by symbol family",
        ),
    ]
    write_json(ctx.paths.metrics, metrics)
    with tracking.run(ctx.settings, ctx.component, run_id=run_info["run_id"]):
        import mlflow

        scored = tracking.numeric(metrics).items()
        mlflow.log_metrics({k: v for k, v in scored if k.startswith(("test_", f"{WRITER_TEST}_", "feedback_"))})
        mlflow.log_metrics(energy.as_metrics(used))
        mlflow.set_tags(machine.tags())
        for path in [*plots, reports / "per_class.csv"]:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
    return metrics
