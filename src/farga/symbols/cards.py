"""What the symbols model and dataset cards say beyond the shared template."""

from __future__ import annotations

from typing import Any

from farga.cards import Card, pct, table
from farga.config import StageContext
from farga.hashing import read_json

HASY_CITATION = (
    "Martin Thoma. The HASYv2 dataset. arXiv:1701.08380, 2017. Zenodo record 259444, doi:10.5281/zenodo.259444."
)
LICENCE = (
    "HASYv2 is published under the Open Database License (ODbL) 1.0. 91.9% of its samples come from "
    "Detexify (Daniel Kirsch), the rest from write-math.com. Attribute HASYv2 and Detexify; a "
    "redistributed copy or derived database stays under ODbL."
)


def data_description(source: str) -> str:
    if source == "hasyv2":
        return "real handwriting: HASYv2, " + LICENCE
    return (
        "SYNTHETIC symbols: matplotlib mathtext renders of the catalogue with handwriting-like "
        "distortion (stroke width, affine jitter, elastic noise). Not real handwriting: accuracy on "
        "it says nothing about accuracy on people's drawings."
    )


def card_sections(ctx: StageContext, facts: dict[str, Any]) -> dict[str, Card]:
    paths = ctx.paths
    fetched = read_json(paths.raw / "fetch.json")
    prepared = read_json(paths.prepared / "prepare.json")
    contract = read_json(paths.reports / "validation.json")
    run, registry = facts["run"], facts["registry"]
    source = fetched["source"]
    train_cfg, data_cfg = ctx.params["train"], ctx.params["data"]
    families = [(f, pct(v)) for f, v in facts["test_by_family"].items()]
    results = [
        ("top-1", pct(facts["test_top1"])),
        ("top-3", pct(facts["test_top3"])),
        ("top-5", pct(facts["test_top5"])),
        ("macro-F1", f"{facts['test_macro_f1']:.3f}"),
        ("top-1 up to a confusable group", pct(facts["test_top1_up_to_confusable"])),
        ("top-1, main writer", pct(facts["test_by_writer"]["main_writer"])),
        ("top-1, other writers", pct(facts["test_by_writer"]["other_writers"])),
    ]
    dataset_name = "HASYv2" if source == "hasyv2" else "synthetic-hasy"
    model = Card(
        header={
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
                            "task": {
                                "type": "image-classification",
                                "name": "handwritten symbol recognition",
                            },
                            "dataset": {
                                "type": dataset_name,
                                "name": dataset_name,
                                "split": f"fold-{prepared['fold']} test",
                            },
                            "metrics": [
                                {
                                    "type": "accuracy",
                                    "name": "top-1 accuracy",
                                    "value": round(facts["test_top1"], 4),
                                },
                                {
                                    "type": "accuracy",
                                    "name": "top-5 accuracy",
                                    "value": round(facts["test_top5"], 4),
                                },
                                {"type": "f1", "name": "macro F1", "value": round(facts["test_macro_f1"], 4)},
                            ],
                        }
                    ],
                }
            ],
        },
        title=f"symbols v{registry['version']}: handwritten math symbol → LaTeX command",
    )
    model.sections = [
        (
            "Model",
            (
                f"A {run['parameters']:,}-parameter CNN (plain PyTorch, exported to ONNX for ONNX Runtime) that "
                f"maps a 32x32 drawing to one of {prepared['classes']} LaTeX symbols and returns the top "
                f"candidates with the package each needs. Registry: model `symbols` version "
                f"{registry['version']}, aliases {registry['aliases']}. MLflow run `{run['run_id']}`."
            ),
        ),
        (
            "Intended use",
            (
                "Look up the LaTeX command of a symbol you can draw but cannot name (like Detexify). Not for "
                "recognising formulas, words, or anything but one isolated symbol."
            ),
        ),
        (
            "Training data",
            (
                f"{data_description(source)}\n\nData sha256 `{run['data_sha256']}`; fold {prepared['fold']}, "
                f"splits {prepared['splits']}; {prepared['dropped_train_duplicates_of_test']} training images "
                "pixel-identical to a test image were removed. See the dataset card." + feedback_note(prepared)
            ),
        ),
        (
            "Training",
            (
                f"{train_cfg['epochs']} epochs, batch {train_cfg['batch_size']}, AdamW (lr {train_cfg['lr']}, "
                f"weight decay {train_cfg['weight_decay']}), one-cycle schedule, label smoothing "
                f"{train_cfg['label_smoothing']}, augmentation {train_cfg['augment']}, seed {train_cfg['seed']}, "
                f"{train_cfg['threads']} CPU threads: {run['train_seconds'] / 60:.1f} min. Best validation top-1 "
                f"{pct(run['val_top1'])} at epoch {run['best_epoch']}."
            ),
        ),
        (
            "Evaluation",
            table(results, ("test metric", "value"))
            + "\n\nBy symbol family:\n\n"
            + table(families, ("family", "top-1"))
            + "\n\nPer-class accuracy: `per_class.csv`; confusions: "
            "`confusion.png`.",
        ),
        ('Answering "not sure"', unsure_section(run, facts)),
        ("Promotion", registry["reason"]),
        (
            "Energy",
            (
                f"Training used {facts['train_energy_kwh'] * 1000:.1f} Wh "
                f"({facts['train_emissions_kg_co2eq'] * 1000:.2f} g CO2eq); evaluation "
                f"{facts['evaluate_energy_kwh'] * 1000:.2f} Wh. Measured with CodeCarbon's offline tracker: "
                f"{run['energy']['caveat']}."
            ),
        ),
        (
            "Limitations",
            (
                "91% of HASYv2 comes from one writer, and the official folds are not writer-disjoint: the "
                "'other writers' row is the better guide to a new user's experience. Some classes are drawn "
                "identically (e.g. `\\mid` and `|`, `\\triangle` and `\\Delta`); top-1 up to a confusable group "
                "measures how much of the error is of that kind. Inputs are binarised 32x32 images: "
                "stroke order and timing are ignored."
            ),
        ),
        ("Citation and licence", f"{HASY_CITATION}\n\n{LICENCE}"),
    ]
    facts_c = contract["facts"]
    dataset = Card(
        header={
            "license": "odbl" if source == "hasyv2" else "apache-2.0",
            "pretty_name": dataset_name,
            "task_categories": ["image-classification"],
            "size_categories": ["100K<n<1M" if facts_c["rows"] > 100_000 else "n<100K"],
            "source_datasets": ["original" if source == "synthetic" else "HASYv2 (Zenodo 259444)"],
        },
        title=f"{dataset_name} as prepared by Farga (fold {prepared['fold']})",
        sections=[
            (
                "Source",
                (
                    f"{data_description(source)}\n\nObtained from `{fetched['origin']}`, sha256 "
                    f"`{fetched['sha256']}`: {fetched['images']:,} images, {fetched['classes']} classes, "
                    f"{fetched['writers']:,} writers, folds {fetched['folds']}."
                ),
            ),
            (
                "Structure",
                (
                    "Each sample is a 32x32 binary ink map (255 = ink), normalised by the same code that "
                    "serves the model (crop to ink, keep aspect, long side to 32 px, centre). The manifest "
                    "(`data/prepared/symbols/manifest.parquet`) lists path, symbol, writer, split, image hash "
                    "and image statistics per sample."
                ),
            ),
            (
                "Splits",
                (
                    f"HASYv2's official fold-{prepared['fold']} protocol; validation ({data_cfg['val_fraction']:.0%} "
                    f"of training, stratified by class, seed {data_cfg['seed']}) is carved from training only. "
                    f"Sizes: {prepared['splits']}. {prepared['dropped_train_duplicates_of_test']} training "
                    "images identical to a test image were dropped."
                ),
            ),
            (
                "Data contract",
                (
                    f"{contract['checks_run']} checks, {'all passed' if contract['ok'] else 'VIOLATED'}: schema "
                    "and value ranges of every manifest column, binary 32x32 arrays, label set = catalogue, no "
                    "image shared between train/val and test, minimum samples per class, split sizes.\n\n"
                    + table([(k, v) for k, v in facts_c.items()], ("fact", "value"))
                ),
            ),
            (
                "Known biases",
                (
                    f"The main writer contributes {facts_c['main_writer_share']:.1%} of the samples; classes are "
                    f"imbalanced (min {facts_c['samples_per_class_min']}, median "
                    f"{facts_c['samples_per_class_median']:.0f} samples per class)."
                ),
            ),
            (
                "Licence and citation",
                f"{LICENCE}\n\n{HASY_CITATION}" if source == "hasyv2" else "Generated by Farga.",
            ),
        ],
    )
    return {"model_card": model, "dataset_card": dataset}


def unsure_section(run: dict[str, Any], facts: dict[str, Any]) -> str:
    """The calibrated "not sure" threshold, as fitted on validation and as it held up on test."""
    fitted = run.get("unsure_threshold")
    if not fitted or "test_sure_coverage" not in facts:
        return "This model has no calibrated threshold (trained before it was introduced): every answer is 'sure'."
    precision = facts.get("test_sure_precision")
    return (
        f"Below a top-1 score of {fitted['threshold']:.3f} the service answers 'not sure' (still listing the "
        f"candidates). Fitted on validation data for {pct(fitted['target_precision'])} precision; on the test "
        f"set, {pct(facts['test_sure_coverage'])} of answers are above it and "
        f"{pct(precision) if precision is not None else 'none'} of those are right."
    )


def feedback_note(prepared: dict[str, Any]) -> str:
    """What users' accepted corrections added to the training set, if anything."""
    feedback = prepared.get("feedback") or {}
    if not feedback.get("train") and not feedback.get("held_out"):
        return ""
    return (
        f" Plus {feedback['train']} drawings from accepted user feedback (archive sha256 "
        f"`{prepared['feedback_sha256']}`); {feedback['held_out']} more were held out to compare this model "
        "with the champion it challenged."
    )
