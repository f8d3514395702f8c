"""The drift statistics and the "not sure" threshold, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from farga.calibration import fit_threshold, measure
from farga.drift import DriftConfig, Sample, categorical, detect, embedding, numeric
from farga.params import Monitor

pytestmark = pytest.mark.code
CFG = DriftConfig(min_samples=50)


def sample(rng: np.random.Generator, n: int, shift: float = 0.0, classes: int = 10) -> Sample:
    features = pd.DataFrame({f"f{i}": rng.normal(shift if i < 2 else 0.0, 1.0, n) for i in range(4)})
    return Sample(
        features=features,
        embedding=rng.normal(0, 1, (n, 32)) + shift * np.r_[np.ones(8), np.zeros(24)],
        prediction=np.array([f"c{i}" for i in rng.integers(0, classes if not shift else 3, n)]),
        confidence=np.clip(rng.beta(8 - 3 * shift, 2, n), 0, 1),
    )


def test_the_same_distribution_does_not_drift_and_a_shifted_one_does():
    rng = np.random.default_rng(0)
    reference = sample(rng, 2000)
    same = detect(reference, sample(rng, 300), CFG)
    assert same["judged"]
    assert not same["drifted"], {k: v["score"] for k, v in same["kinds"].items()}
    assert same["kinds"]["embedding"]["score"] < 0.6
    shifted = detect(reference, sample(rng, 300, shift=1.0), CFG)
    assert {k for k, v in shifted["kinds"].items() if v["drifted"]} == {
        "input",
        "embedding",
        "prediction",
        "confidence",
    }
    assert shifted["kinds"]["input"]["score"] == 0.5  # two of the four features moved
    assert {n for n, f in shifted["kinds"]["input"]["features"].items() if f["drifted"]} == {"f0", "f1"}


def test_a_tiny_effect_in_a_large_window_is_not_called_drift():
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 1, 50_000), rng.normal(0.05, 1, 50_000)
    result = numeric(ref, cur, CFG)
    assert result["p_value"] < CFG.alpha  # significant...
    assert not result["drifted"]  # ...but 0.05 sd is below the minimum effect


def test_a_large_effect_in_a_small_window_needs_significance():
    rng = np.random.default_rng(2)
    result = numeric(rng.normal(0, 1, 2000), rng.normal(0.4, 1, 6), CFG)
    assert result["score"] > CFG.distance
    assert result["p_value"] > CFG.alpha
    assert not result["drifted"]


def test_class_mix_pools_rare_classes_and_sees_unknown_ones():
    rng = np.random.default_rng(3)
    ref = np.array([f"c{i}" for i in rng.integers(0, 200, 20_000)])  # 200 classes, ~1.5 expected each in 300
    assert not categorical(ref, rng.choice(ref, 300), CFG)["drifted"]
    new = categorical(ref, np.array(["never-seen"] * 300), CFG)
    assert new["drifted"]
    assert new["current_top"] == {"never-seen": 1.0}


def test_embedding_drift_is_a_domain_classifier_auc():
    rng = np.random.default_rng(4)
    ref = rng.normal(0, 1, (500, 16))
    assert embedding(ref, rng.normal(0, 1, (200, 16)), CFG)["score"] < 0.62
    moved = embedding(ref, rng.normal(0, 1, (200, 16)) + 0.8, CFG)
    assert moved["score"] > 0.9
    assert moved["drifted"]


def test_a_small_window_is_reported_not_judged():
    rng = np.random.default_rng(5)
    result = detect(sample(rng, 500), sample(rng, 20, shift=1.0), CFG)
    assert not result["judged"]
    assert not result["drifted"]
    assert "20 predictions" in result["reason"]


def test_config_from_params_takes_the_monitor_block():
    rules = Monitor(window=1000, min_samples=10, alpha=0.05, distance=0.2, auc=0.7, share=0.5)
    cfg = DriftConfig.from_params(rules)
    assert (cfg.alpha, cfg.min_samples, cfg.distance, cfg.auc, cfg.share) == (0.05, 10, 0.2, 0.7, 0.5)


def test_threshold_keeps_the_most_answers_at_the_target_precision():
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    correct = np.array([1, 1, 1, 1, 1, 0, 1, 0, 0, 0], bool)
    fitted = fit_threshold(confidence, correct, 0.85)
    assert fitted["threshold"] == 0.5  # the top 7 are 6/7 = 86% right; the top 8 are 75%
    assert fitted["precision"] == pytest.approx(6 / 7)
    assert fitted["coverage"] == pytest.approx(0.7)
    strict = fit_threshold(confidence, correct, 1.0)
    assert strict["threshold"] == 0.7
    assert strict["coverage"] == pytest.approx(0.5)


def test_an_unreachable_precision_flags_every_answer_and_ties_move_together():
    nothing = fit_threshold(np.array([0.9, 0.8]), np.array([False, False]), 0.9)
    assert nothing["coverage"] == 0.0
    assert nothing["precision"] is None
    tied = fit_threshold(np.array([0.9, 0.9, 0.5]), np.array([True, False, True]), 0.6)
    assert tied["threshold"] == 0.5  # 0.9 alone is 50% right: the tie cannot be split
    assert measure(np.array([0.9, 0.9, 0.5]), np.array([True, False, True]), 0.9)["coverage"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="target_precision"):
        fit_threshold(np.array([0.5]), np.array([True]), 1.5)
