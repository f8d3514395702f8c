"""Scoring the served predictor beside the baselines, in one run, where the user is and where training was.

Four predictors see the same masked words: unigram frequency, the bidirectional trigram model, the
transformer alone (the served int8 ONNX graph) and the served mixture. Each gets top-1, top-5 and
perplexity, overall, by word class, by frequency band and by the genre of the text, on two splits:
``val`` (documents unseen in training, from the sources it trained on) and ``unseen_test`` (whole
sources held out of training: the text of a source the model never read, what a new user brings).
``bar`` records the acceptance ratios on ``unseen_test`` (transformer vs trigram top-1; served vs
trigram top-1 >= 1.2x, top-5 >= 1.13x), overall and per genre; the same ratios on ``val`` stand beside
them. The served mixture's weight was chosen on ``unseen_dev``; the weight dev would have chosen is
scored too, on both splits.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from farga import cpu
from farga.facts import Facts
from farga.fillmask.params import FillmaskContext
from farga.fillmask.predictor import Predictor
from farga.fillmask.prepare import load_split
from farga.fillmask.scoring import Example, accuracy, examples, groups_of, hits, report, top_k
from farga.fillmask.sources import genre_of
from farga.hashing import read_json, write_json
from farga.onnx_runtime import OnnxModel, has_float_twin

REQUIRED = {"served_vs_trigram_top1": 1.2, "served_vs_trigram_top5": 1.13}
# the evaluation's splits: the name metrics use, the prepared split, a seed offset (sizes: params evaluate.*positions)
SPLITS = (("val", "val", 0), ("unseen", "unseen_test", 3))
TWIN_SLICE = 1000  # positions of the float twin scored at a time: (1000, 40,000 words) float32 is 160 MB


class Scored(NamedTuple):
    items: list[Example]
    targets: np.ndarray
    genres: dict[str, dict[str, np.ndarray]]  # the ``by_genre`` slice family


def split_examples(ctx: FillmaskContext, predictor: Predictor, split: str, size: int, offset: int) -> Scored:
    """Seeded positions of one split, clipped as the predictor reads them, with each one's genre."""
    lines = load_split(ctx.paths.prepared, split)
    items = examples(lines, size, ctx.config.evaluate.seed + offset)
    items = [ex.clipped(predictor.n_tokens_of, predictor.max_tokens) for ex in items]
    sources = load_split(ctx.paths.prepared, split, column="source")
    genres = {"by_genre": groups_of([genre_of(sources[ex.line]) for ex in items])}
    return Scored(items, predictor.vocab.ids([ex.target for ex in items]), genres)


def dev_examples(ctx: FillmaskContext, predictor: Predictor, per_line: int, split: str = "dev") -> list[Example]:
    """``per_line`` words of every line of a dev split (``dev`` or ``unseen_dev``), for studies that fit
    something there (the evaluation's seed plus one: the draw training scores its epochs on)."""
    lines = load_split(ctx.paths.prepared, split)
    items = examples(lines, len(lines), ctx.config.evaluate.seed + 1, per_line=per_line)
    return [ex.clipped(predictor.n_tokens_of, predictor.max_tokens) for ex in items]


def ratios(served: dict[str, Any], trigram: dict[str, Any]) -> dict[str, float]:
    return {
        "served_vs_trigram_top1": served["top1"] / trigram["top1"] if trigram["top1"] else float("nan"),
        "served_vs_trigram_top5": served["top5"] / trigram["top5"] if trigram["top5"] else float("nan"),
    }


def compare(models: dict[str, Any]) -> dict[str, Any]:
    """The served model and the transformer alone against the trigram, overall and per genre."""
    served, trigram, transformer = models["served"], models["trigram"], models["transformer"]
    return {
        "transformer_beats_trigram_top1": transformer["top1"] > trigram["top1"],
        "transformer_vs_trigram_top1": transformer["top1"] / trigram["top1"] if trigram["top1"] else float("nan"),
        **ratios(served, trigram),
        "by_genre": {g: ratios(s, trigram["by_genre"][g]) for g, s in served.get("by_genre", {}).items()},
    }


def components(predictor: Predictor, items: list[Example]) -> dict[str, np.ndarray]:
    """The transformer's and (when the model has one) the trigram's log-probabilities of every position."""
    out = {"transformer": np.concatenate(predictor.transformer([ex.masked for ex in items]))}
    if predictor.ngram is not None:
        out["trigram"] = np.concatenate([predictor.trigram(ex.masked) for ex in items])
    return out


def predictions(predictor: Predictor, parts: dict[str, np.ndarray], served_only: bool = False) -> dict[str, np.ndarray]:
    neural = parts["transformer"]
    if "trigram" not in parts or predictor.ngram is None:
        return {"transformer": neural, "served": neural}
    out = {"served": predictor.mix(neural, parts["trigram"], predictor.ngram_weight)}
    if not served_only:
        unigram = predictor.ngram.unigram_log_probs(predictor.vocab.predictable)
        out.update(unigram=np.broadcast_to(unigram, neural.shape), trigram=parts["trigram"], transformer=neural)
    return out


def headline(name: str, scores: dict[str, Any]) -> dict[str, Any]:
    """The served model's figures on one split under the names the registry gate compares."""
    figures = {
        f"{name}_top1": scores["top1"],
        f"{name}_top5": scores["top5"],
        f"{name}_perplexity": scores["perplexity"],
        f"{name}_by_class": {k: v["top1"] for k, v in scores["by_class"].items()},
        f"{name}_by_frequency": {k: v["top1"] for k, v in scores["by_frequency"].items()},
    }
    if "by_genre" in scores:
        figures[f"{name}_by_genre"] = {k: v["top1"] for k, v in scores["by_genre"].items()}
    return figures


def evaluated_splits(ctx: FillmaskContext, predictor: Predictor) -> dict[str, Scored]:
    """The splits that have lines (``unseen`` has none when no source is held out)."""
    found = {}
    sizes = {"val": ctx.config.evaluate.positions, "unseen": ctx.config.evaluate.unseen_positions}
    for name, split, offset in SPLITS:
        scored = split_examples(ctx, predictor, split, sizes[name], offset)
        if scored.items:
            found[name] = scored
    return found


def score(ctx: FillmaskContext, model_dir: Path) -> Facts:
    """The served figures of any exported model (the registry re-scores the champion with this)."""
    predictor = Predictor.load(model_dir, threads=ctx.config.train.threads)
    out: dict[str, Any] = {}
    for name, scored in evaluated_splits(ctx, predictor).items():
        served = predictions(predictor, components(predictor, scored.items), served_only=True)["served"]
        out.update(headline(name, report(served, scored.targets, predictor.vocab, scored.genres)))
    return out


def float_twin_scores(ctx: FillmaskContext, predictor: Predictor, splits: dict[str, Scored]) -> dict[str, float]:
    """The served mixture's top-1 with the float graph the int8 one was quantised from, on this
    machine: what int8 costs here ({} for a float export). Scored first and a slice at a time: a
    split's (positions, words) arrays are gigabytes, and the rest of the evaluation holds several."""
    model_dir = predictor.onnx.path.parent
    if not has_float_twin(model_dir):
        return {}
    threads = ctx.config.train.threads
    twin = replace(predictor, onnx=OnnxModel.load(model_dir, threads=threads, precision="float"))
    out = {}
    for name, scored in splits.items():
        right = 0
        for start in range(0, len(scored.items), TWIN_SLICE):
            stop = start + TWIN_SLICE
            served = predictions(twin, components(twin, scored.items[start:stop]), served_only=True)["served"]
            right += int(hits(served, scored.targets[start:stop])[:, 0].sum())
        out[f"{name}_top1_float"] = right / len(scored.items)
    return out


def write_examples(path: Path, predictor: Predictor, items: list[Example], served: np.ndarray, n: int = 300) -> Path:
    best = top_k(served[:n], 5)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sentence", "hidden", "top5", "right"])
        for ex, row in zip(items[:n], best, strict=False):
            words = [predictor.vocab.words[i] for i in row]
            out.writerow([" ".join(ex.masked), ex.target, " | ".join(words), ex.target == words[0]])
    return path


def mixture_results(
    predictor: Predictor, parts: dict[str, dict[str, np.ndarray]], splits: dict[str, Scored], weights: list[float]
) -> dict[str, dict[str, dict[str, float]]]:
    """Top-1 and top-5 of the mixture at each weight, on every split: the choice made and the other one."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for w in sorted(set(weights)):
        out[str(w)] = {}
        for name, scored in splits.items():
            if "trigram" not in parts[name]:
                continue
            mixed = predictor.mix(parts[name]["transformer"], parts[name]["trigram"], w)
            got = accuracy(mixed, scored.targets)
            out[str(w)][name] = {"top1": got["top1"], "top5": got["top5"]}
    return out


def evaluate(ctx: FillmaskContext) -> Facts:
    from farga import tracking
    from farga.fillmask.plots import plot_comparison

    model_dir, reports = ctx.paths.models, ctx.paths.reports
    predictor = Predictor.load(model_dir, threads=ctx.config.train.threads)
    splits = evaluated_splits(ctx, predictor)
    twin_scores = float_twin_scores(ctx, predictor, splits)
    parts = {name: components(predictor, scored.items) for name, scored in splits.items()}
    metrics: dict[str, Any] = {"ngram_weight": predictor.ngram_weight, **twin_scores}
    scored_models: dict[str, dict[str, Any]] = {}
    for name, scored in splits.items():
        predicted = predictions(predictor, parts[name])
        models = {m: report(lp, scored.targets, predictor.vocab, scored.genres) for m, lp in predicted.items()}
        scored_models[name] = models
        metrics.update(headline(name, models["served"]))
        metrics[name] = {
            "positions": len(scored.items),
            "out_of_vocabulary": float((scored.targets == 0).mean()),
            "models": models,
            "ratios": compare(models) if "trigram" in models else {},
        }
        if name == "val":
            write_examples(reports / "val_examples.csv", predictor, scored.items, predicted["served"])
    machine = cpu.describe()
    metrics["machine"] = machine.to_json()  # int8 kernels, and so the int8 figures, depend on it
    mixture = read_json(model_dir / "mixture.json") if (model_dir / "mixture.json").is_file() else {}
    if mixture:
        metrics["mixture"] = {
            "chosen_on": mixture["chosen_on"],
            "weight": mixture["ngram_weight"],
            "dev_weight": mixture["dev_weight"],
            "results": mixture_results(predictor, parts, splits, [mixture["ngram_weight"], mixture["dev_weight"]]),
        }
    where = "unseen" if "unseen" in splits else "val"
    bar = metrics[where]["ratios"]
    metrics["bar"] = {
        "split": where,
        **{k: v for k, v in bar.items() if k != "by_genre"},
        "required": REQUIRED,
        "met": bool(bar) and bar["transformer_beats_trigram_top1"] and all(bar[k] >= v for k, v in REQUIRED.items()),
    }
    write_json(ctx.paths.metrics, metrics)
    plot = plot_comparison(scored_models, reports / "comparison.png")
    run_info = read_json(model_dir / "run.json")
    with tracking.run(ctx.settings, ctx.component, run_id=run_info["run_id"]):
        import mlflow

        mlflow.log_metrics(tracking.numeric(metrics))
        mlflow.set_tags(machine.tags())
        mlflow.log_artifact(str(plot), artifact_path="plots")
        mlflow.log_artifact(str(reports / "val_examples.csv"), artifact_path="evaluation")
    return metrics
