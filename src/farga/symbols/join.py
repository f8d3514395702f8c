"""The served model from its specialists: their log-probabilities weighed on validation, one graph.

Each specialist is good at one crowd: the network trained on HASYv2 as it comes at Detexify's
anonymous pool, the writer-balanced one with a heavier pen at the next writer. Their weights are
the point of a grid on the simplex with the best mean validation top-1 over the two crowds (the pool
and the identified writers), so that neither decides alone; the weighted sum of log-probabilities is
exported as one ONNX graph, quantised like any single network, which the service loads unchanged.
A specialist whose recipe or data changed since it was saved is trained again first.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any, cast

import numpy as np
import torch

from farga import energy
from farga.facts import Facts
from farga.hashing import read_json
from farga.symbols.export import attach_monitoring, export_onnx
from farga.symbols.model import Joined, n_params
from farga.symbols.params import SymbolsContext
from farga.symbols.prepare import load_classes, load_split
from farga.symbols.train import (
    calibration_images,
    epoch_metrics,
    load_network,
    predict_logits,
    recipe,
    train_part,
)


def current(ctx: SymbolsContext, part: str) -> bool:
    """Is the saved specialist the one its recipe and the prepared data make now?"""
    run = ctx.paths.of_part(part).models / "run.json"
    return run.exists() and read_json(run).get("recipe") == recipe(ctx, part)


def simplex(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weighting of ``n`` networks on a grid of ``step`` (weights >= 0 summing to 1)."""
    k = round(1 / step)
    points = (c for c in itertools.product(range(k + 1), repeat=n) if sum(c) == k)
    return [tuple(i / k for i in c) for c in points]


def crowd_top1(log_probs: np.ndarray, labels: np.ndarray, crowds: dict[str, np.ndarray]) -> dict[str, float]:
    right = log_probs.argmax(1) == labels
    return {name: float(right[mask].mean()) for name, mask in crowds.items() if mask.any()}


def as_facts(scores: dict[str, float]) -> Facts:
    return {k: v for k, v in scores.items()}


def crowd_loss(log_probs: np.ndarray, labels: np.ndarray, crowds: dict[str, np.ndarray]) -> float:
    """The mean over crowds of the cross-entropy of the normalised mix."""
    normalised = log_probs - np.logaddexp.reduce(log_probs, axis=1, keepdims=True)
    loss = -normalised[np.arange(len(labels)), labels]
    return float(np.mean([loss[mask].mean() for mask in crowds.values() if mask.any()]))


def fit_weights(
    log_probs: list[np.ndarray], labels: np.ndarray, crowds: dict[str, np.ndarray], step: float
) -> tuple[tuple[float, ...], list[Facts]]:
    """The grid point with the best mean top-1 over the crowds (on a tie, the lower mean loss), and
    every point's scores."""
    points = simplex(len(log_probs), step)
    scored: list[Facts] = []
    keys: list[tuple[float, float]] = []
    for weights in points:
        mixed = np.asarray(sum(w * lp for w, lp in zip(weights, log_probs, strict=True)))
        per_crowd, loss = crowd_top1(mixed, labels, crowds), crowd_loss(mixed, labels, crowds)
        mean = float(np.mean(list(per_crowd.values())))
        keys.append((mean, -loss))
        scored.append({"weights": list(weights), "mean": mean, "loss": loss, **as_facts(per_crowd)})
    best = max(range(len(points)), key=keys.__getitem__)
    return points[best], scored


def train(ctx: SymbolsContext) -> Facts:
    parts = list(ctx.config.train.specialists)
    for part in parts:
        if not current(ctx, part):
            facts = train_part(ctx, part)
            if "rank" in facts and facts["rank"] != 0:  # a helper of a run on several processes
                return facts
    if int(os.environ.get("RANK", "0")) != 0:
        return {"rank": int(os.environ["RANK"])}
    return join(ctx, parts)


def join(ctx: SymbolsContext, parts: list[str]) -> Facts:
    from farga.distributed import Checkpoint
    from farga.training import training

    cfg = ctx.config.train
    classes = load_classes(ctx.paths.prepared)
    x_train, _, train_rows = load_split(ctx.paths.prepared, "train")
    x_val, y_val, val_rows = load_split(ctx.paths.prepared, "val")
    runs = {part: read_json(ctx.paths.of_part(part).models / "run.json") for part in parts}
    networks = [load_network(ctx.paths.of_part(part).models) for part in parts]
    pool = val_rows.writer.isin(ctx.config.data.writer_holdout.pools).to_numpy()
    crowds = {"pool": pool, "writers": ~pool}
    log_probs = [torch.log_softmax(predict_logits(n, x_val), 1).numpy() for n in networks]
    weights, grid = fit_weights(log_probs, y_val, crowds, cfg.join_step)
    kept = [i for i, w in enumerate(weights) if w > 0]  # a specialist weighed 0 costs no request any time
    model = Joined([networks[i] for i in kept], [weights[i] for i in kept]).eval()
    facts = read_json(ctx.paths.prepared / "prepare.json")
    data_sha, feedback_sha = str(facts["source_sha256"]), facts.get("feedback_sha256")
    checkpoint = Checkpoint(ctx.settings.checkpoints(ctx.component) / "join", "join")
    tags = {"data.source": ctx.config.data.source, "data.feedback_sha256": str(feedback_sha)}
    with training(
        ctx,
        checkpoint,
        None,
        data_sha=data_sha,
        logged={"train": cfg},
        tags=tags,
        step="epoch",
        epoch_metrics=epoch_metrics,
    ) as shell:
        import mlflow

        started = time.perf_counter()
        mixed = np.asarray(sum(w * lp for w, lp in zip(weights, log_probs, strict=True)))
        val_top1 = float((mixed.argmax(1) == y_val).mean())
        val_top5 = float((np.argsort(-mixed, 1)[:, :5] == y_val[:, None]).any(1).mean())
        alone = {part: crowd_top1(lp, y_val, crowds) for part, lp in zip(parts, log_probs, strict=True)}
        joined = crowd_top1(mixed, y_val, crowds)
        mlflow.log_params({"join.weights": dict(zip(parts, weights, strict=True)), "model.parameters": n_params(model)})
        mlflow.log_metrics(
            {"val_top1": val_top1, "val_top5": val_top5, **{f"val_top1_{c}": v for c, v in joined.items()}}
            | {f"val_top1_{c}_{p}": v for p, by in alone.items() for c, v in by.items()}
        )
        out = ctx.paths.models
        out.mkdir(parents=True, exist_ok=True)
        provenance = {
            "run_id": shell.run_id,
            "data_sha256": data_sha,
            "data_source": ctx.config.data.source,
            "feedback_sha256": feedback_sha,
            "specialists": {part: runs[part]["run_id"] for part in parts},
        }
        files = export_onnx(model, classes, out, provenance, calibration_images(x_train, cfg))
        monitoring = attach_monitoring(
            files,
            (x_train, train_rows.symbol_id.to_numpy()),
            (x_val, val_rows.symbol_id.to_numpy()),
            cfg.export,
            cfg.seed,
        )
        mlflow.log_metrics(
            {f"unsure_val_{k}": v for k, v in monitoring["calibration"].items() if k != "n" and v is not None}
        )
        extra = [files["labels"], files["preprocessing"], *monitoring["files"].values()]
        published = shell.publish(files, extra, ["onnxruntime", "numpy"], provenance)
        summary: Facts = {
            **published,
            "quantization": cfg.export.quantize,
            "parameters": n_params(model),
            "specialists": {
                part: {
                    "weight": w,
                    "run_id": runs[part]["run_id"],
                    "epochs": runs[part]["epochs"],
                    "best_epoch": runs[part]["best_epoch"],
                    "best_is_average": runs[part].get("best_is_average", False),
                    "precision": runs[part].get("precision", "fp32"),
                    "train_seconds": runs[part]["train_seconds"],
                    "val_top1": runs[part]["val_top1"],
                    "val_top1_by_crowd": as_facts(alone[part]),
                }
                for part, w in zip(parts, weights, strict=True)
            },
            "weights_grid": [row for row in grid],
            "train_seconds": round(sum(float(r["train_seconds"]) for r in runs.values()), 1),
            "join_seconds": round(time.perf_counter() - started, 1),
            "workers": max(int(r["workers"]) for r in runs.values()),
            "val_top1": val_top1,
            "val_top5": val_top5,
            "val_top1_by_crowd": as_facts(joined),
            "unsure_threshold": monitoring["calibration"],
            "data_source": ctx.config.data.source,
            "data_sha256": data_sha,
            "feedback_sha256": feedback_sha,
            "energy": energy.summed([cast(dict[str, Any], runs[part]["energy"]) for part in parts]),
        }
    return shell.finish(summary)
