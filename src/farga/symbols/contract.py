"""The symbols data contract: what a prepared dataset must be before any model may learn from it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from farga.facts import Facts
from farga.hashing import write_json
from farga.symbols import catalogue
from farga.symbols.archive import read_archive
from farga.symbols.params import Contract, SymbolsContext
from farga.symbols.prepare import IMAGES, MANIFEST, SCORED, WRITER_TEST, load_classes, load_split
from farga.symbols.preprocess import ImageInputError, normalise_image
from farga.symbols.user_symbols import USER_SYMBOLS, read_user_symbols
from farga.validation import ContractReport, ContractViolation, check, check_frame

SPLITS = ("train", "val", "test", WRITER_TEST, "feedback_test")
SOURCES = ("hasyv2", "synthetic", "feedback")


def manifest_schema(classes: list[dict[str, Any]]) -> pa.DataFrameSchema:
    """``classes``: the catalogue's symbols (or a subset), then any learnt from users."""
    latex_of = {int(c["symbol_id"]): str(c["latex"]) for c in classes}
    return pa.DataFrameSchema(
        {
            "path": pa.Column(str, unique=True, nullable=False),
            "symbol_id": pa.Column(int, pa.Check.isin(sorted(latex_of))),
            "latex": pa.Column(str, pa.Check.isin(sorted(set(latex_of.values())))),
            "label": pa.Column(int, pa.Check.in_range(0, len(classes) - 1)),
            "writer": pa.Column(int, pa.Check.ge(0)),
            "split": pa.Column(str, pa.Check.isin(SPLITS)),
            "source": pa.Column(str, pa.Check.isin(SOURCES)),
            "sha256": pa.Column(str, pa.Check.str_matches(r"^[0-9a-f]{64}$")),
            "ink_fraction": pa.Column(float, pa.Check.in_range(0.0, 1.0, include_min=False)),
            "bbox_height": pa.Column(int, pa.Check.in_range(1, 32)),
            "bbox_width": pa.Column(int, pa.Check.in_range(1, 32)),
            "centroid_x": pa.Column(float, pa.Check.in_range(0.0, 1.0)),
            "centroid_y": pa.Column(float, pa.Check.in_range(0.0, 1.0)),
        },
        checks=[
            pa.Check(lambda df: df.symbol_id.map(latex_of) == df.latex, name="latex matches symbol_id in the classes")
        ],
        strict=True,
        coerce=False,
    )


def declared_classes(classes: list[dict[str, Any]]) -> str | None:
    """The catalogue's symbols are declared as the catalogue has them; any other must be learnt from users."""
    known = catalogue.by_id()
    wrong = [
        c["latex"]
        for c in classes
        if (int(c["symbol_id"]) in known and known[int(c["symbol_id"])].latex != c["latex"])
        or (int(c["symbol_id"]) not in known and c.get("origin") != "users")
    ]
    return (
        f"{len(wrong)} classes are neither the catalogue's nor learnt from users, e.g. {wrong[:3]}" if wrong else None
    )


def validate_dataset(
    manifest: pd.DataFrame, images: np.ndarray, classes: list[dict[str, Any]], rules: Contract, full_catalogue: bool
) -> ContractReport:
    """``full_catalogue``: every catalogue symbol must be a class (real data; a synthetic set draws a few)."""
    report = ContractReport("symbols")
    schema = manifest_schema(classes)
    check_frame(report, schema, manifest)
    if set(schema.columns) - set(manifest.columns):
        return report  # the schema findings name the missing columns; nothing else can be checked

    def arrays() -> str | None:
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (32, 32):
            return f"images must be uint8 (N, 32, 32), got {images.dtype} {images.shape}"
        if len(images) != len(manifest):
            return f"{len(images)} images but {len(manifest)} manifest rows"
        values = np.unique(images)
        if not set(values.tolist()) <= {0, 255}:
            return f"images must be binary ink maps (0/255), found values {values[:8].tolist()}"
        empty = int((images.reshape(len(images), -1).max(axis=1) == 0).sum())
        return f"{empty} images have no ink" if empty else None

    def label_set() -> str | None:
        present = set(manifest.symbol_id)
        declared = {int(c["symbol_id"]) for c in classes}
        full = set(catalogue.by_id())
        if full_catalogue and not full <= declared:
            return f"classes declare {len(declared & full)} of the catalogue's {len(full)} symbols"
        if problem := declared_classes(classes):
            return problem
        if present != declared:
            missing = sorted(declared - present)[:5]
            return f"labels present {len(present)} != declared classes {len(declared)}; missing: {missing}"
        return None

    def disjoint() -> str | None:
        scored = manifest.split.isin(SCORED)
        shared = manifest[~scored & manifest.sha256.isin(set(manifest.sha256[scored]))]
        return f"{len(shared)} train/val images are pixel-identical to test images" if len(shared) else None

    def writers_unseen() -> str | None:
        unseen = set(manifest.writer[manifest.split == WRITER_TEST])
        seen = manifest[manifest.split.isin(["train", "val"]) & manifest.writer.isin(unseen)]
        return f"{len(seen)} train/val drawings are by writers held out for writer_test" if len(seen) else None

    def per_class() -> str | None:
        # a class learnt from users was admitted on its count of drawings (params: feedback.new_symbols),
        # most of which train; here it needs only to be trainable at all
        counts = manifest[manifest.split == "train"].groupby("symbol_id").size()
        minimum = {int(c["symbol_id"]): 1 if c.get("origin") == "users" else rules.min_train_per_class for c in classes}
        counts = counts.reindex(list(minimum), fill_value=0)
        low = counts[counts < pd.Series(minimum)]
        if low.empty:
            return None
        return f"{len(low)} classes have fewer training samples than their minimum, e.g. {low.head(3).to_dict()}"

    def split_sizes() -> str | None:
        shares = manifest.split.value_counts(normalize=True).reindex(SPLITS, fill_value=0.0)
        problems = [
            f"{split} holds {shares[split]:.1%} (allowed {lo:.0%}-{hi:.0%})"
            for split, (lo, hi) in rules.split_share.items()
            if not lo <= shares[split] <= hi
        ]
        return "; ".join(problems) or None

    for name, predicate in [
        ("arrays: shape, dtype and values", arrays),
        ("label set = catalogue", label_set),  # (and any symbols learnt from users)
        ("no image shared between train/val and the test splits", disjoint),
        ("no writer of writer_test in train/val", writers_unseen),
        ("minimum training samples per class", per_class),
        ("split sizes", split_sizes),
    ]:
        check(report, name, predicate)
    report.facts = {
        "rows": len(manifest),
        "splits": manifest.split.value_counts().to_dict(),
        "classes": len(classes),
        "writers": int(manifest.writer.nunique()),
        "main_writer_share": float(manifest.writer.value_counts(normalize=True).iloc[0]),
        "samples_per_class_min": int(manifest.groupby("symbol_id").size().min()),
        "samples_per_class_median": float(manifest.groupby("symbol_id").size().median()),
        "ink_fraction_mean": float(manifest.ink_fraction.mean()),
    }
    return report


def validate(ctx: SymbolsContext) -> Facts:
    prepared = ctx.paths.prepared
    manifest = pd.read_parquet(prepared / MANIFEST)
    images = np.load(prepared / IMAGES, mmap_mode="r")
    classes = load_classes(prepared)
    rules, source = ctx.config.contract, ctx.config.data.source
    full = source == "hasyv2" if rules.require_full_catalogue is None else rules.require_full_catalogue
    report = validate_dataset(manifest, np.asarray(images), classes, rules, full)
    write_json(ctx.paths.reports / "validation.json", report.as_dict())
    report.render()
    if not report.ok:
        raise ContractViolation(report)
    return report.as_dict()


def feedback_report(archive: Path, prepared: Path) -> ContractReport:
    """Exported feedback (a HASYv2-layout archive) checked before it may join the training data."""
    report = ContractReport("symbols feedback")
    data = read_archive(archive, progress=False)
    labels = data.labels
    latex_of = {i: s.latex for i, s in catalogue.by_id().items()}
    latex_of |= {s.symbol_id: s.latex for s in read_user_symbols(archive.parent / USER_SYMBOLS)}
    schema = pa.DataFrameSchema(
        {
            "path": pa.Column(str, unique=True),
            "symbol_id": pa.Column(int, pa.Check.isin(sorted(latex_of))),
            "latex": pa.Column(str, pa.Check.isin(sorted(set(latex_of.values())))),
            "user_id": pa.Column(int),
        },
        checks=[
            pa.Check(
                lambda df: df.symbol_id.map(latex_of) == df.latex,
                name="latex matches symbol_id in the catalogue (or the symbols learnt from users)",
            )
        ],
        strict=True,
    )
    check_frame(report, schema, labels)
    inks: dict[str, np.ndarray] = {}
    unreadable = list(data.bad_images) + [p for p in labels.path if p not in data.images and p not in data.bad_images]
    for path in labels.path:
        if path in data.images:
            try:
                inks[path] = normalise_image(data.images[path])
            except ImageInputError:
                unreadable.append(path)
    hashes = {path: hashlib.sha256(ink.tobytes()).hexdigest() for path, ink in inks.items()}

    def images_valid() -> str | None:
        return f"{len(unreadable)} images missing, unreadable or blank, e.g. {unreadable[:3]}" if unreadable else None

    def not_in_test() -> str | None:
        _, _, test = load_split(prepared, "test")
        leaked = sorted(p for p, h in hashes.items() if h in set(test.sha256))
        return f"{len(leaked)} images are pixel-identical to test images, e.g. {leaked[:3]}" if leaked else None

    def no_repeats() -> str | None:
        frame = labels.assign(sha256=labels.path.map(hashes)).dropna(subset=["sha256"])
        repeated = frame[frame.sha256.duplicated(keep=False)]
        if repeated.empty:
            return None
        conflicting = int((repeated.groupby("sha256").latex.nunique() > 1).sum())
        return f"{len(repeated)} images appear more than once ({conflicting} of them with different labels)"

    for name, predicate in [
        ("images decodable, 32x32, with ink", images_valid),
        ("no image of the test split", not_in_test),
        ("no image given twice", no_repeats),
    ]:
        check(report, name, predicate)
    report.facts = {"samples": len(labels), "classes": int(labels.symbol_id.nunique()) if len(labels) else 0}
    return report


def validate_feedback(ctx: SymbolsContext, archive: Path) -> Facts:
    report = feedback_report(archive, ctx.paths.prepared)
    write_json(ctx.paths.reports / "feedback_validation.json", report.as_dict())
    report.render()
    if not report.ok:
        raise ContractViolation(report)
    return report.as_dict()
