"""The symbols model and dataset cards: the figures they read; their wording is in templates/."""

from __future__ import annotations

from typing import Any

from farga.cards import Card, model_and_dataset, pct, run_context
from farga.config import StageContext


def card_sections(ctx: StageContext, facts: dict[str, Any]) -> dict[str, Card]:
    """The model and dataset cards: their headers (the Hub's metadata) here, their wording in templates/."""
    context = run_context(ctx, facts)
    registry, prepared, contract = context["registry"], context["prepared"], context["contract"]
    source = context["fetched"]["source"]
    dataset_name = "HASYv2" if source == "hasyv2" else "synthetic-hasy"
    context.update(
        feedback=prepared.get("feedback") or {},
        families=[(f, pct(v)) for f, v in facts["test_by_family"].items()],
        source=source,
        dataset_name=dataset_name,
    )
    metrics = [
        {"type": "accuracy", "name": "top-1 accuracy", "value": round(facts["test_top1"], 4)},
        {"type": "accuracy", "name": "top-5 accuracy", "value": round(facts["test_top5"], 4)},
        {"type": "f1", "name": "macro F1", "value": round(facts["test_macro_f1"], 4)},
    ]
    model_header = {
        "license": "apache-2.0",
        "library_name": "onnx",
        "pipeline_tag": "image-classification",
        "tags": ["handwriting", "latex", "math-symbols", "cnn", "farga"],
        "datasets": [dataset_name],
        "metrics": ["accuracy", "f1"],
        "model-index": [
            {
                "name": f"farga-symbols-v{registry['version']}",
                "results": [
                    {
                        "task": {"type": "image-classification", "name": "handwritten symbol recognition"},
                        "dataset": {
                            "type": dataset_name,
                            "name": dataset_name,
                            "split": f"fold-{prepared['fold']} test",
                        },
                        "metrics": metrics,
                    }
                ],
            }
        ],
    }
    dataset_header = {
        "license": "odbl" if source == "hasyv2" else "apache-2.0",
        "pretty_name": dataset_name,
        "task_categories": ["image-classification"],
        "size_categories": ["100K<n<1M" if contract["facts"]["rows"] > 100_000 else "n<100K"],
        "source_datasets": ["original" if source == "synthetic" else "HASYv2 (Zenodo 259444)"],
    }
    return model_and_dataset(__package__, model_header, dataset_header, context)
