"""The fillmask model and dataset cards: the figures they read; their wording is in templates/."""

from __future__ import annotations

from typing import Any

from farga.cards import Card, model_and_dataset, model_header, pct, run_context
from farga.config import StageContext
from farga.fillmask.sources import genre_of


def comparison_rows(models: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            name,
            pct(s["top1"]),
            pct(s["top5"]),
            f"{s['perplexity']:.1f}",
            pct(s["by_class"].get("function", {}).get("top1")),
            pct(s["by_class"].get("content", {}).get("top1")),
        )
        for name, s in models.items()
    ]


def genre_rows(models: dict[str, Any], bar: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per genre: its share, the trigram's and the served model's top-1 / top-5, and their ratios."""
    trigram, served = models.get("trigram", {}).get("by_genre", {}), models["served"].get("by_genre", {})
    return [
        (
            genre,
            pct(s["share"]),
            f"{pct(trigram[genre]['top1'])} / {pct(trigram[genre]['top5'])}",
            f"{pct(s['top1'])} / {pct(s['top5'])}",
            f"x{bar['by_genre'][genre]['served_vs_trigram_top1']:.2f} / "
            f"x{bar['by_genre'][genre]['served_vs_trigram_top5']:.2f}",
        )
        for genre, s in sorted(served.items(), key=lambda kv: -kv[1]["share"])
        if genre in trigram and genre in bar.get("by_genre", {})
    ]


def card_sections(ctx: StageContext, facts: dict[str, Any]) -> dict[str, Card]:
    """The model and dataset cards: their headers (the Hub's metadata) here, their wording in templates/."""
    context = run_context(ctx, facts)
    registry, bar, fetched = facts["registry"], facts["bar"], context["fetched"]
    source = fetched["source"]
    dataset_name = "farga-catalan-2.8M" if source == "catalan" else "synthetic-catalan"
    files = [
        (
            f["file"],
            genre_of(f["file"].removesuffix(".txt.gz")),
            f.get("origin", "generated"),
            f.get("licence", "Apache-2.0"),
            f"{f['lines']:,}",
            f"{f['words']:,}",
            f"`{f['sha256'][:12]}`",
        )
        for f in fetched["files"]
    ]
    served = facts["models"]["served"]
    context.update(
        bar=bar,
        dataset_name=dataset_name,
        comparison=comparison_rows(facts["models"]),
        bands=[(band, pct(s["top1"]), pct(s["share"])) for band, s in served["by_frequency"].items()],
        genres=genre_rows(facts["models"], bar),
        files=files,
    )
    header = model_header(
        "fillmask",
        registry["version"],
        task=("fill-mask", "masked whole-word prediction"),
        dataset=dataset_name,
        split="validation (by document hash)",
        scores=[
            ("accuracy", "top-1 accuracy", round(facts["val_top1"], 4)),
            ("accuracy", "top-5 accuracy", round(facts["val_top5"], 4)),
            ("perplexity", "word perplexity", round(facts["val_perplexity"], 2)),
        ],
        tags=["catalan", "masked-language-model", "transformer", "farga"],
        language=["ca"],
    )
    dataset_header = {
        "license": "other" if source == "catalan" else "apache-2.0",
        "language": ["ca"],
        "pretty_name": dataset_name,
        "task_categories": ["fill-mask"],
        "size_categories": ["100K<n<1M" if fetched["lines"] > 100_000 else "n<100K"],
        "source_datasets": ["original"] if source == "synthetic" else [row[0] for row in files],
    }
    return model_and_dataset(__package__, header, dataset_header, context)
