"""The fillmask figures on the front page, read from reports/fillmask/ (``farga report``)."""

from __future__ import annotations

from pathlib import Path

from farga.cards import pct
from farga.hashing import read_json
from farga.report import Headline, synthetic_warning


def headline(reports: Path) -> Headline:
    m = read_json(reports / "metrics.json")
    models, bar = m["models"], m["bar"]
    names = {
        "served": f"served: transformer + trigram (weight {m['ngram_weight']})",
        "transformer": "transformer alone",
        "trigram": "trigram (the anchor)",
    }
    return Headline(
        component="fillmask",
        caption=(
            f"Catalan validation split, {m['positions']:,} sentences with one word masked each "
            "(documents unseen in training, sources shared with it)"
        ),
        header=("predictor", "top-1", "top-5", "perplexity"),
        rows=[
            (label, pct(models[name]["top1"]), pct(models[name]["top5"]), f"{models[name]['perplexity']:.1f}")
            for name, label in names.items()
        ],
        notes=[
            *synthetic_warning(reports),
            f"Served / trigram: {bar['served_vs_trigram_top1']:.2f}x top-1, {bar['served_vs_trigram_top5']:.2f}x "
            f"top-5; the transformer alone: {bar['transformer_vs_trigram_top1']:.2f}x top-1.",
        ],
        links={
            "model card": "reports/fillmask/model_card.md",
            "dataset card": "reports/fillmask/dataset_card.md",
            "the component": "docs/fillmask.md",
        },
    )
