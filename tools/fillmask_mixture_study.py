"""Can a smarter combination of the transformer with the trigram close fillmask's gap? A study, not a
pipeline step: the served predictor mixes the two log-linearly with one weight chosen on unseen_dev
(lines of sources held out of training); here richer combinations are fitted on a dev split the same
way and scored on the evaluation's words of both splits (validation and unseen_test).

Run from a checkout whose fillmask pipeline has run (models/fillmask, data/prepared/fillmask):

    .venv/bin/python tools/fillmask_mixture_study.py [--fit-on unseen_dev|dev] [--dev-words 4]

Combinations: one weight, log-linear (served) or linear (probabilities); a weight per third of the
dev masks by a model's confidence (its top probability or its entropy); a log-linear mixture whose
two weights are linear in both models' top log-probabilities, fitted by maximum likelihood. And two
ceilings that know the answer: the best weight for each word, and "either model is right".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from tqdm import tqdm

from farga import components
from farga.config import Settings
from farga.fillmask.evaluate import SPLITS, dev_examples, evaluated_splits
from farga.fillmask.predictor import Predictor
from farga.fillmask.scoring import Example, hits, top_k

WEIGHTS = np.round(np.linspace(0, 1, 11), 2)
K = 30  # candidates per model for the maximum-likelihood fit


def finite(scores: np.ndarray) -> np.ndarray:
    """A weight of 0 times a word neither model allows (-inf) is NaN: such words rank last."""
    return np.nan_to_num(scores, nan=-np.inf)


def score(predictor: Predictor, items: list[Example], label: str) -> dict[str, np.ndarray]:
    """Per mask: top-1/top-5 hits of every one-weight mixture, the confidences, and candidate features."""
    targets = predictor.vocab.ids([ex.target for ex in items])
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("loglin", "lin", "nmax", "tmax", "nent", "cand", "x")}
    for start in tqdm(range(0, len(items), 256), desc=label):
        chunk, t = items[start : start + 256], targets[start : start + 256]
        nn = np.concatenate(predictor.transformer([ex.masked for ex in chunk]))
        tg = np.concatenate([predictor.trigram(ex.masked) for ex in chunk])
        with np.errstate(invalid="ignore", divide="ignore"):
            out["loglin"].append(np.stack([hits(finite((1 - w) * nn + w * tg), t) for w in WEIGHTS], axis=1))
            out["lin"].append(
                np.stack([hits(finite(np.logaddexp(np.log1p(-w) + nn, np.log(w) + tg)), t) for w in WEIGHTS], 1)
            )
            out["nent"].append(-np.where(np.isfinite(nn), np.exp(nn) * nn, 0).sum(axis=1))
        nmax, tmax = nn.max(axis=1), tg.max(axis=1)
        out["nmax"].append(nmax)
        out["tmax"].append(tmax)
        cand = np.concatenate([top_k(nn, K), top_k(tg, K)], axis=1)
        cand[:, K:][(cand[:, K:, None] == cand[:, None, :K]).any(axis=2)] = -1  # a word both pick, once
        c_nn = np.take_along_axis(nn, np.maximum(cand, 0), 1)
        c_tg = np.take_along_axis(tg, np.maximum(cand, 0), 1)
        feats = [c_nn, c_tg, c_nn * tmax[:, None], c_tg * tmax[:, None], c_nn * nmax[:, None], c_tg * nmax[:, None]]
        out["x"].append(np.stack(feats, axis=-1))
        out["cand"].append(np.where(cand == t[:, None], 1, np.where(cand < 0, -1, 0)))  # 1: the hidden word
    return {k: np.concatenate(v) for k, v in out.items()}


def fit_log_linear(dev: dict[str, np.ndarray], l2: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood weights of the features over each dev mask's candidates (conditional logit)."""
    keep = (dev["cand"] == 1).any(axis=1)
    x, y, valid = dev["x"][keep], dev["cand"][keep] == 1, dev["cand"][keep] >= 0
    mu, sd = x[valid].mean(axis=0), x[valid].std(axis=0) + 1e-9
    xs = np.where(valid[..., None], (x - mu) / sd, 0.0)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        s = np.where(valid, xs @ theta, -np.inf)
        top = s.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
        p = np.exp(s - lse[:, None])
        grad = (xs * (p - y)[..., None]).sum(axis=(0, 1)) / len(s) + 2 * l2 * theta
        return float((lse - s[y]).mean() + l2 * theta @ theta), grad

    theta = minimize(loss, np.full(x.shape[-1], 0.5), jac=True, method="L-BFGS-B").x
    return theta, mu, sd


def log_linear_hits(val: dict[str, np.ndarray], theta: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Top-1/top-5 among the candidates (each model's best 30: what a top 5 is drawn from)."""
    valid = val["cand"] >= 0
    s = np.where(valid, np.where(valid[..., None], (val["x"] - mu) / sd, 0.0) @ theta, -np.inf)
    top = np.argsort(-s, axis=1)[:, :5]
    right = np.take_along_axis(val["cand"] == 1, top, axis=1)
    return np.stack([right[:, 0], right.any(axis=1)], axis=1)


def by_bins(
    dev: dict[str, np.ndarray], val: dict[str, np.ndarray], feature: str, family: str, n: int = 3
) -> np.ndarray:
    """A weight per bin of a confidence (bins: equal thirds of dev), each chosen on its dev masks."""
    edges = np.quantile(dev[feature], np.linspace(0, 1, n + 1)[1:-1])
    d_bin, v_bin = np.digitize(dev[feature], edges), np.digitize(val[feature], edges)
    out = np.zeros((len(v_bin), 2), dtype=bool)
    for b in range(n):
        rate = dev[family][d_bin == b].mean(axis=0)  # (weights, 2)
        best = int(np.argmax(rate[:, 0] + 1e-4 * rate[:, 1]))
        out[v_bin == b] = val[family][v_bin == b, best]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dev-words", type=int, default=4, help="masked words per dev sentence")
    parser.add_argument("--fit-on", choices=("unseen_dev", "dev"), default="unseen_dev", help="the split fitted on")
    args = parser.parse_args()
    ctx = components.context("fillmask", Settings(root=Path.cwd()))
    predictor = Predictor.load(ctx.paths.models, threads=ctx.config.train.threads)
    dev = score(predictor, dev_examples(ctx, predictor, args.dev_words, args.fit_on), args.fit_on)
    splits = {name: split for name, split, _ in SPLITS}
    for name, scored in evaluated_splits(ctx, predictor).items():
        report(dev, score(predictor, scored.items, splits[name]), args.fit_on, splits[name])


def report(dev: dict[str, np.ndarray], val: dict[str, np.ndarray], fit_on: str, split: str) -> None:
    rows: list[tuple[str, np.ndarray]] = [
        ("trigram", val["loglin"][:, -1]),
        ("transformer", val["loglin"][:, 0]),
    ]
    for family, name in (("loglin", "log-linear"), ("lin", "linear")):
        rate = dev[family].mean(axis=0)
        best = int(np.argmax(rate[:, 0] + 1e-4 * rate[:, 1]))
        rows.append((f"{name}, one weight ({WEIGHTS[best]} on the trigram, chosen on {fit_on})", val[family][:, best]))
    for feature, name in (("tmax", "trigram's top probability"), ("nmax", "transformer's top probability")):
        rows.append((f"log-linear, a weight per third by the {name}", by_bins(dev, val, feature, "loglin")))
    rows.append(("log-linear, a weight per third by the transformer's entropy", by_bins(dev, val, "nent", "loglin")))
    theta, mu, sd = fit_log_linear(dev)
    rows.append(
        ("log-linear, weights linear in both confidences (max. likelihood)", log_linear_hits(val, theta, mu, sd))
    )
    rows.append(("ceiling: the best weight for each word (knows the answer)", val["loglin"].any(axis=1)))
    rows.append(("ceiling: either model right (knows the answer)", val["loglin"][:, [0, -1]].any(axis=1)))

    trigram = rows[0][1].mean(axis=0)
    print(f"\n{len(val['nmax'])} {split} words, combinations fitted on {len(dev['nmax'])} {fit_on} words\n")
    print("| combination | top-1 | top-5 | top-1 vs trigram | top-5 vs trigram |\n|---|---|---|---|---|")
    for name, h in rows:
        top1, top5 = h.mean(axis=0)
        print(f"| {name} | {top1:.1%} | {top5:.1%} | {top1 / trigram[0]:.3f}x | {top5 / trigram[1]:.3f}x |")


if __name__ == "__main__":
    main()
