"""Drift between a reference sample (the champion's data) and a window of production traffic.

Four kinds, each a statistical test from SciPy or scikit-learn with an effect size, so that a large
window does not flag a negligible shift and a small one does not flag noise:

- input: per feature, the Wasserstein distance in reference standard deviations *and* a two-sample
  Kolmogorov-Smirnov test; the score is the share of features that drifted.
- embedding: a domain classifier (PCA + logistic regression) trying to tell reference embeddings
  from current ones; the score is its cross-validated ROC AUC (0.5: indistinguishable).
- prediction: the predicted-class mix, chi-square test on classes grouped until each group expects
  five answers; the score is the Jensen-Shannon distance beyond what chance alone gives a window
  of that size drawn from the reference.
- confidence: the top-1 confidence, tested like an input feature.

(Evidently runs the same tests; it needs pandas<3 and about a gigabyte of dependencies, so the
statistics come straight from the libraries it builds on.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from farga.params import Monitor

KINDS = ("input", "embedding", "prediction", "confidence")


@dataclass(frozen=True)
class Sample:
    features: pd.DataFrame  # numeric input features, one row per drawing / request
    embedding: np.ndarray  # (N, d) the model's penultimate layer
    prediction: np.ndarray  # (N,) predicted class names
    confidence: np.ndarray  # (N,) top-1 score

    def __len__(self) -> int:
        return len(self.confidence)


@dataclass(frozen=True)
class DriftConfig:
    alpha: float = 0.01  # significance of each test
    distance: float = 0.1  # minimum effect: Wasserstein (in reference std) or Jensen-Shannon distance
    auc: float = 0.65  # domain classifier ROC AUC above which embeddings drifted
    share: float = 0.3  # share of input features that must drift for the input to drift
    min_samples: int = 100  # a smaller window is reported, not judged
    seed: int = 0

    @classmethod
    def from_params(cls, rules: Monitor) -> DriftConfig:
        return cls(rules.alpha, rules.distance, rules.auc, rules.share, rules.min_samples)  # seed: its own


def numeric(reference: np.ndarray, current: np.ndarray, cfg: DriftConfig) -> dict[str, Any]:
    from scipy.stats import ks_2samp, wasserstein_distance

    ref, cur = np.asarray(reference, float), np.asarray(current, float)
    scale = float(ref.std()) or 1.0
    distance = float(wasserstein_distance(ref, cur)) / scale
    p_value = float(ks_2samp(ref, cur).pvalue)
    return {
        "score": distance,
        "p_value": p_value,
        "reference_mean": float(ref.mean()),
        "current_mean": float(cur.mean()),
        "drifted": bool(distance > cfg.distance and p_value < cfg.alpha),
    }


def categorical(reference: np.ndarray, current: np.ndarray, cfg: DriftConfig) -> dict[str, Any]:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chisquare

    ref = pd.Series(reference).value_counts()
    cur = pd.Series(current).value_counts()
    # bins: rare classes are grouped (in order of frequency) until each group expects five answers in
    # the window; classes the reference never predicted count with its rarest group
    expected = ref / ref.sum() * len(current)
    group, filled, bin_of = 0, 0.0, {}
    for cls, e in expected.items():
        bin_of[cls] = group
        filled += e
        if filled >= 5:
            group, filled = group + 1, 0.0
    if filled and group:  # a last, under-filled group joins the one before
        bin_of = {c: min(b, group - 1) for c, b in bin_of.items()}
    n_bins = max(bin_of.values()) + 1
    f_ref, f_cur = np.zeros(n_bins), np.zeros(n_bins)
    np.add.at(f_ref, [bin_of[c] for c in ref.index], ref.to_numpy())
    np.add.at(f_cur, [bin_of.get(c, n_bins - 1) for c in cur.index], cur.to_numpy())
    f_exp = f_ref / f_ref.sum() * f_cur.sum()
    p_value = float(chisquare(f_cur, f_exp).pvalue) if n_bins > 1 else 1.0
    p_ref = f_ref / f_ref.sum()
    observed = float(jensenshannon(p_ref, f_cur / max(f_cur.sum(), 1), base=2))
    # a window drawn from the reference itself is some distance away by chance (with hundreds of
    # classes, a lot): the score is the distance beyond that, averaged over reference-drawn windows
    rng = np.random.default_rng(cfg.seed)
    noise = float(
        np.mean([jensenshannon(p_ref, rng.multinomial(len(current), p_ref) / len(current), base=2) for _ in range(20)])
    )
    distance = max(0.0, observed - noise)
    top = cur.head(5) / max(len(current), 1)
    return {
        "score": distance,
        "p_value": p_value,
        "bins": n_bins,
        "jensen_shannon": observed,
        "chance_level": noise,
        "current_top": {str(k): float(v) for k, v in top.items()},
        "drifted": bool(distance > cfg.distance and p_value < cfg.alpha),
    }


def embedding(reference: np.ndarray, current: np.ndarray, cfg: DriftConfig) -> dict[str, Any]:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(cfg.seed)
    n = min(len(reference), len(current))
    ref = reference[rng.choice(len(reference), size=n, replace=False)]
    cur = current[rng.choice(len(current), size=n, replace=False)]
    x = np.vstack([ref, cur]).astype(np.float32)
    y = np.r_[np.zeros(n), np.ones(n)]
    fold_size = 2 * n - -(-2 * n // 5)  # the training part of a 5-fold split
    classifier = make_pipeline(
        StandardScaler(), PCA(n_components=min(20, x.shape[1], fold_size - 1)), LogisticRegression(max_iter=1000)
    )
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=cfg.seed)
    auc = float(cross_val_score(classifier, x, y, cv=folds, scoring="roc_auc").mean())
    return {"score": auc, "method": "domain classifier ROC AUC", "drifted": bool(auc > cfg.auc)}


def detect(reference: Sample, current: Sample, cfg: DriftConfig) -> dict[str, Any]:
    """Every kind of drift of ``current`` against ``reference``; ``drifted`` is true if any kind drifted."""
    if len(current) < cfg.min_samples:
        return {
            "window": len(current),
            "judged": False,
            "reason": f"{len(current)} predictions in the window, {cfg.min_samples} needed",
            "drifted": False,
            "kinds": {},
        }
    features = {
        name: numeric(reference.features[name].to_numpy(), current.features[name].to_numpy(), cfg)
        for name in reference.features.columns
    }
    drifted_share = sum(f["drifted"] for f in features.values()) / len(features)
    kinds = {
        "input": {"score": drifted_share, "drifted": drifted_share >= cfg.share, "features": features},
        "embedding": embedding(reference.embedding, current.embedding, cfg),
        "prediction": categorical(reference.prediction, current.prediction, cfg),
        "confidence": numeric(reference.confidence, current.confidence, cfg),
    }
    return {
        "window": len(current),
        "reference": len(reference),
        "judged": True,
        "drifted": any(k["drifted"] for k in kinds.values()),
        "kinds": kinds,
    }
