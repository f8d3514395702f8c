"""The fillmask model and dataset cards: the figures they read; their wording is in templates/."""

from __future__ import annotations

from typing import Any

from farga.cards import Card, model_and_dataset, model_header, pct, run_context
from farga.fillmask.params import FillmaskContext
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


def genre_rows(models: dict[str, Any], ratios: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Per genre: its share, the trigram's and the served model's top-1 / top-5, and their ratios."""
    trigram, served = models.get("trigram", {}).get("by_genre", {}), models["served"].get("by_genre", {})
    return [
        (
            genre,
            pct(s["share"]),
            f"{pct(trigram[genre]['top1'])} / {pct(trigram[genre]['top5'])}",
            f"{pct(s['top1'])} / {pct(s['top5'])}",
            f"x{ratios['by_genre'][genre]['served_vs_trigram_top1']:.2f} / "
            f"x{ratios['by_genre'][genre]['served_vs_trigram_top5']:.2f}",
        )
        for genre, s in sorted(served.items(), key=lambda kv: -kv[1]["share"])
        if genre in trigram and genre in ratios.get("by_genre", {})
    ]


def split_context(split: dict[str, Any]) -> dict[str, Any]:
    """What the model card shows of one evaluated split."""
    models = split["models"]
    return {
        "positions": split["positions"],
        "out_of_vocabulary": split["out_of_vocabulary"],
        "ratios": split["ratios"],
        "comparison": comparison_rows(models),
        "bands": [(band, pct(s["top1"]), pct(s["share"])) for band, s in models["served"]["by_frequency"].items()],
        "genres": genre_rows(models, split["ratios"]) if split["ratios"] else [],
    }


def mixture_rows(mixture: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Each weight the choice was between: where it was chosen, and what it scores on every split."""
    chosen: dict[float, list[str]] = {}
    for weight, where in ((mixture["weight"], mixture["chosen_on"]), (mixture["dev_weight"], "dev")):
        if where not in chosen.setdefault(weight, []):
            chosen[weight].append(where)
    rows = []
    for w, where in sorted(chosen.items()):
        results = mixture["results"][str(w)]
        cells = [
            f"{pct(results[k]['top1'])} / {pct(results[k]['top5'])}" if k in results else "" for k in ("unseen", "val")
        ]
        rows.append((f"{w}{' (served)' if w == mixture['weight'] else ''}", " and ".join(where), *cells))
    return rows


def card_sections(ctx: FillmaskContext, facts: dict[str, Any]) -> dict[str, Card]:
    """The model and dataset cards: their headers (the Hub's metadata) here, their wording in templates/."""
    context = run_context(ctx, facts, {"train": ctx.config.train, "data": ctx.config.data})
    registry, bar, fetched = facts["registry"], facts["bar"], context["fetched"]
    source = fetched["source"]
    held_out = set(context["prepared"].get("held_out", []))
    dataset_name = "farga-catalan-2.8M" if source == "catalan" else "synthetic-catalan"
    files = [
        (
            f["file"],
            genre_of(f["file"].removesuffix(".txt.gz")),
            "held out" if f["file"].removesuffix(".txt.gz") in held_out else "train",
            f.get("origin", "generated"),
            f.get("licence", "Apache-2.0"),
            f"{f['lines']:,}",
            f"{f['words']:,}",
            f"`{f['sha256'][:12]}`",
        )
        for f in fetched["files"]
    ]
    context.update(
        bar=bar,
        dataset_name=dataset_name,
        splits={name: split_context(facts[name]) for name in ("unseen", "val") if name in facts},
        mixture=mixture_rows(facts["mixture"]) if "mixture" in facts else [],
        held_out=sorted(held_out),
        files=files,
    )
    header = model_header(
        "fillmask",
        registry["version"],
        task=("fill-mask", "masked whole-word prediction"),
        dataset=dataset_name,
        split="unseen_test (sources held out of training) and validation (by document hash)",
        scores=[
            (kind, f"{name} ({label})", round(facts[f"{split}_{key}"], 4 if kind == "accuracy" else 2))
            for split, label in (("unseen", "held-out sources"), ("val", "validation"))
            if f"{split}_top1" in facts
            for kind, name, key in (
                ("accuracy", "top-1 accuracy", "top1"),
                ("accuracy", "top-5 accuracy", "top5"),
                ("perplexity", "word perplexity", "perplexity"),
            )
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
