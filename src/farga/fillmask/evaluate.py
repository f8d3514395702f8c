"""Scoring the served predictor on the validation split, beside the baselines, in one run.

Four predictors see the same masked words: unigram frequency, the bidirectional trigram model, the
transformer alone (the served int8 ONNX graph) and the served mixture. Each gets top-1, top-5 and
perplexity, overall, by word class, by frequency band and by the genre of the text (news,
literature, software help...); ``bar`` records the issue's acceptance ratios (transformer vs trigram
top-1; served vs trigram top-1 >= 1.2x, top-5 >= 1.15x), overall and per genre.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from farga.components import Facts
from farga.config import StageContext
from farga.fillmask.predictor import Predictor
from farga.fillmask.prepare import load_split
from farga.fillmask.scoring import Example, examples, groups_of, report, top_k
from farga.fillmask.sources import genre_of
from farga.hashing import read_json, write_json


def val_examples(ctx: StageContext, predictor: Predictor) -> list[Example]:
    cfg = ctx.params["evaluate"]
    items = examples(load_split(ctx.paths.prepared, "val"), int(cfg["positions"]), int(cfg["seed"]))
    return [ex.clipped(predictor.n_tokens_of, predictor.max_tokens) for ex in items]


def dev_examples(ctx: StageContext, predictor: Predictor, per_line: int) -> list[Example]:
    """``per_line`` words of every dev sentence, for studies that fit something on dev (the
    evaluation's seed, plus one: the draw training scores its epochs on, with more words a line)."""
    lines = load_split(ctx.paths.prepared, "dev")
    items = examples(lines, len(lines), int(ctx.params["evaluate"]["seed"]) + 1, per_line=per_line)
    return [ex.clipped(predictor.n_tokens_of, predictor.max_tokens) for ex in items]


def genres(ctx: StageContext, items: list[Example]) -> dict[str, dict[str, np.ndarray]]:
    """The ``by_genre`` slice family of validation examples: the genre of each one's source."""
    sources = load_split(ctx.paths.prepared, "val", column="source")
    return {"by_genre": groups_of([genre_of(sources[ex.line]) for ex in items])}


def ratios(served: dict[str, Any], trigram: dict[str, Any]) -> dict[str, float]:
    return {
        "served_vs_trigram_top1": served["top1"] / trigram["top1"] if trigram["top1"] else float("nan"),
        "served_vs_trigram_top5": served["top5"] / trigram["top5"] if trigram["top5"] else float("nan"),
    }


def predictions(predictor: Predictor, items: list[Example], served_only: bool = False) -> dict[str, np.ndarray]:
    neural = np.concatenate(predictor.transformer([ex.masked for ex in items]))
    if predictor.ngram is None:
        return {"transformer": neural, "served": neural}
    trigram = np.concatenate([predictor.trigram(ex.masked) for ex in items])
    out = {"served": predictor.mix(neural, trigram, predictor.ngram_weight)}
    if not served_only:
        unigram = predictor.ngram.unigram_log_probs(predictor.vocab.predictable)
        out.update(unigram=np.broadcast_to(unigram, neural.shape), trigram=trigram, transformer=neural)
    return out


def headline(scores: dict[str, Any]) -> dict[str, Any]:
    """The served model's figures under the names the registry gate compares."""
    return {
        "val_top1": scores["top1"],
        "val_top5": scores["top5"],
        "val_perplexity": scores["perplexity"],
        "val_by_class": {k: v["top1"] for k, v in scores["by_class"].items()},
        "val_by_frequency": {k: v["top1"] for k, v in scores["by_frequency"].items()},
    }


def score(ctx: StageContext, model_dir: Path) -> Facts:
    """The served figures of any exported model (the registry re-scores the champion with this)."""
    predictor = Predictor.load(model_dir, threads=int(ctx.params["train"]["threads"]))
    items = val_examples(ctx, predictor)
    targets = predictor.vocab.ids([ex.target for ex in items])
    return headline(report(predictions(predictor, items, served_only=True)["served"], targets, predictor.vocab))


def write_examples(path: Path, predictor: Predictor, items: list[Example], served: np.ndarray, n: int = 300) -> Path:
    best = top_k(served[:n], 5)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sentence", "hidden", "top5", "right"])
        for ex, row in zip(items[:n], best, strict=False):
            words = [predictor.vocab.words[i] for i in row]
            out.writerow([" ".join(ex.masked), ex.target, " | ".join(words), ex.target == words[0]])
    return path


def evaluate(ctx: StageContext) -> Facts:
    from farga import tracking
    from farga.fillmask.plots import plot_comparison

    model_dir, reports = ctx.paths.models, ctx.paths.reports
    predictor = Predictor.load(model_dir, threads=int(ctx.params["train"]["threads"]))
    items = val_examples(ctx, predictor)
    targets = predictor.vocab.ids([ex.target for ex in items])
    predicted = predictions(predictor, items)
    by_genre = genres(ctx, items)
    scored = {name: report(lp, targets, predictor.vocab, by_genre) for name, lp in predicted.items()}
    served, trigram = scored["served"], scored["trigram"]
    metrics = {
        **headline(served),
        "ngram_weight": predictor.ngram_weight,
        "models": scored,
        "bar": {
            "transformer_beats_trigram_top1": scored["transformer"]["top1"] > trigram["top1"],
            "transformer_vs_trigram_top1": scored["transformer"]["top1"] / trigram["top1"],
            **ratios(served, trigram),
            "required": {"served_vs_trigram_top1": 1.2, "served_vs_trigram_top5": 1.15},
            "by_genre": {g: ratios(s, trigram["by_genre"][g]) for g, s in served["by_genre"].items()},
        },
        "positions": len(items),
        "out_of_vocabulary": float((targets == 0).mean()),
    }
    write_json(ctx.paths.metrics, metrics)
    plot = plot_comparison(scored, reports / "comparison.png")
    examples_csv = write_examples(reports / "val_examples.csv", predictor, items, predicted["served"])
    run_info = read_json(model_dir / "run.json")
    with tracking.run(ctx.settings, ctx.component, run_id=run_info["run_id"]):
        import mlflow

        mlflow.log_metrics(tracking.numeric(metrics))
        mlflow.log_artifact(str(plot), artifact_path="plots")
        mlflow.log_artifact(str(examples_csv), artifact_path="evaluation")
    return metrics
