"""The symbols model and dataset cards: the figures they read; their wording is in templates/."""

from __future__ import annotations

from typing import Any

from farga.cards import Card, model_and_dataset, model_header, pct, run_context
from farga.symbols.headline import FOLD1_ENSEMBLE, FOLD1_ONE_NETWORK, PAPER_TEN_FOLD_MEAN
from farga.symbols.params import SymbolsContext
from farga.symbols.user_symbols import USER_SYMBOLS, read_user_symbols


def card_sections(ctx: SymbolsContext, facts: dict[str, Any]) -> dict[str, Card]:
    """The model and dataset cards: their headers (the Hub's metadata) here, their wording in templates/."""
    context = run_context(ctx, facts, {"train": ctx.config.train, "data": ctx.config.data})
    registry, prepared, contract = context["registry"], context["prepared"], context["contract"]
    source = context["fetched"]["source"]
    dataset_name = "HASYv2" if source == "hasyv2" else "synthetic-hasy"
    ids = {s.latex: s.symbol_id for s in read_user_symbols(ctx.paths.feedback / USER_SYMBOLS)}
    context.update(
        feedback=prepared.get("feedback") or {},
        learnt=[
            (latex, pct(facts.get("feedback_learnt_by_class", {}).get(str(ids.get(latex)))))
            for latex in prepared.get("learnt_classes", [])
        ],
        families=[(f, pct(v)) for f, v in facts["test_by_family"].items()],
        source=source,
        dataset_name=dataset_name,
        specialists=[
            (
                f"`{part}`",
                f"seed {spec.seed}, pool drawn x{spec.pool_weight:g}, heavier pen on {spec.pen_share:.0%}",
                f"{run['weight']:.2f}",
                f"{run['epochs']} epochs in {run.get('precision', 'fp32')} (kept: epoch {run['best_epoch']}"
                f"{', averaged weights' if run.get('best_is_average') else ''}), {run['train_seconds'] / 60:.1f} min",
                " / ".join(pct(run["val_top1_by_crowd"].get(c)) for c in ("pool", "writers")),
            )
            for part, spec in ctx.config.train.specialists.items()
            for run in [facts["run"]["specialists"][part]]
        ],
        anchor={"one": FOLD1_ONE_NETWORK, "ensemble": FOLD1_ENSEMBLE, "paper": PAPER_TEN_FOLD_MEAN},
    )
    header = model_header(
        "symbols",
        registry["version"],
        task=("image-classification", "handwritten symbol recognition"),
        dataset=dataset_name,
        split=f"fold-{prepared['fold']} test",
        scores=[
            ("accuracy", "top-1 accuracy", round(facts["test_top1"], 4)),
            ("accuracy", "top-5 accuracy", round(facts["test_top5"], 4)),
            ("f1", "macro F1", round(facts["test_macro_f1"], 4)),
            *(
                [("accuracy", "top-1 accuracy, writers never trained on", round(facts["writer_test_top1"], 4))]
                if "writer_test_top1" in facts
                else []
            ),
        ],
        tags=["handwriting", "latex", "math-symbols", "cnn", "farga"],
    )
    dataset_header = {
        "license": "odbl" if source == "hasyv2" else "apache-2.0",
        "pretty_name": dataset_name,
        "task_categories": ["image-classification"],
        "size_categories": ["100K<n<1M" if contract["facts"]["rows"] > 100_000 else "n<100K"],
        "source_datasets": ["original" if source == "synthetic" else "HASYv2 (Zenodo 259444)"],
    }
    return model_and_dataset(__package__, header, dataset_header, context)
