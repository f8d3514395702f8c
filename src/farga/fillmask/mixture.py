"""The trigram's weight in the served mixture, chosen with the exported files on ``unseen_dev`` (sources
held out of training): on dev, which shares its sources' phrasing with training, the trigram's memory
looks better than it is on a text the model never read. Both choices are recorded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from farga.fillmask.predictor import Predictor
from farga.fillmask.scoring import Example, accuracy

NGRAM_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def weight_scores(predictor: Predictor, items: list[Example]) -> dict[float, dict[str, float]]:
    """Top-1 and top-5 of the mixture at every candidate weight, on the same words."""
    items = [ex.clipped(predictor.n_tokens_of, predictor.max_tokens) for ex in items]
    targets = predictor.vocab.ids([ex.target for ex in items])
    neural = np.concatenate(predictor.transformer([ex.masked for ex in items]))
    trigram = np.concatenate([predictor.trigram(ex.masked) for ex in items])
    out = {}
    for w in NGRAM_WEIGHTS:
        scores = accuracy(predictor.mix(neural, trigram, w), targets)
        out[w] = {"top1": scores["top1"], "top5": scores["top5"]}
    return out


def best_weight(scores: dict[float, dict[str, float]]) -> float:
    """The weight with the best mean of top-1 and top-5 (ties: the smaller weight, the transformer's)."""
    return max(scores, key=lambda w: (scores[w]["top1"] + scores[w]["top5"], -w))


@dataclass(frozen=True)
class Mixture:
    """The served mixture's weight, where it was chosen, and the grid it was chosen from (``mixture.json``)."""

    ngram_weight: float
    chosen_on: str  # unseen_dev, or dev when no source is held out
    dev_weight: float  # the weight dev would have chosen
    dev_by_weight: dict[str, dict[str, float]]
    unseen_dev_by_weight: dict[str, dict[str, float]]
    dev_positions: int
    unseen_dev_positions: int


def choose_ngram_weight(model_dir: Path, dev: list[Example], unseen_dev: list[Example]) -> Mixture:
    """The trigram's weight in the served mixture, chosen on ``unseen_dev``; the weight dev would have
    chosen is kept beside it. Without held-out sources, dev chooses."""
    predictor = Predictor.load(model_dir)
    on_dev = weight_scores(predictor, dev)
    on_unseen = weight_scores(predictor, unseen_dev) if unseen_dev else {}
    return Mixture(
        ngram_weight=best_weight(on_unseen or on_dev),
        chosen_on="unseen_dev" if on_unseen else "dev",
        dev_weight=best_weight(on_dev),
        dev_by_weight={str(w): s for w, s in on_dev.items()},
        unseen_dev_by_weight={str(w): s for w, s in on_unseen.items()},
        dev_positions=len(dev),
        unseen_dev_positions=len(unseen_dev),
    )
