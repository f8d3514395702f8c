"""Splits, cached arrays and a per-sample manifest from a verified HASYv2-layout archive.

Splits follow HASYv2's official ``fold-k`` protocol; validation is carved from training only, so
the test fold stays the paper's. Training images identical to a test image (same pixels after
preprocessing) are dropped from training: they would leak the answer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import track

from farga.facts import Facts
from farga.hashing import read_json, sha256_file, write_json
from farga.symbols.archive import read_archive
from farga.symbols.params import SymbolsContext
from farga.symbols.preprocess import INK_THRESHOLD, normalise_image
from farga.symbols.user_symbols import USER_SYMBOLS, read_user_symbols

FEEDBACK_ARCHIVE = "feedback.tar"
FEEDBACK_TEST = "feedback_test"  # held-out accepted feedback: compares challenger and champion on real traffic
WRITER_TEST = "writer_test"  # identified writers never trained on: what the next person who draws gets
SCORED = ("test", WRITER_TEST)  # splits whose drawings no training copy may show the model
IMAGES = "images.npy"
MANIFEST = "manifest.parquet"
CLASSES = "classes.json"


def image_stats(ink: np.ndarray) -> dict[str, float]:
    mask = ink >= INK_THRESHOLD
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return {"ink_fraction": 0.0, "bbox_height": 0, "bbox_width": 0, "centroid_x": 0.0, "centroid_y": 0.0}
    return {
        "ink_fraction": float(mask.mean()),
        "bbox_height": int(ys.max() - ys.min() + 1),
        "bbox_width": int(xs.max() - xs.min() + 1),
        "centroid_x": float(xs.mean() / ink.shape[1]),
        "centroid_y": float(ys.mean() / ink.shape[0]),
    }


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask choosing ``fraction`` of each class (at least one when the class has two)."""
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(labels), dtype=bool)
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        n = round(len(idx) * fraction)
        n = max(n, 1) if len(idx) > 1 and fraction > 0 else n
        chosen[rng.choice(idx, size=n, replace=False)] = True
    return chosen


def held_out_writers(writers: pd.Series, fraction: float, seed: int, pools: list[int]) -> set[int]:
    """Identified writers whose every drawing is kept out of training and validation: chosen by a hash
    of the writer id (the same writers in every run and on every machine), never an anonymous pool."""

    def draw(writer: int) -> float:
        return int(hashlib.sha256(f"{seed}:{writer}".encode()).hexdigest()[:8], 16) / 16**8

    return {int(w) for w in writers.unique() if int(w) not in pools and draw(int(w)) < fraction}


def raw_archive_path(ctx: SymbolsContext) -> Path:
    info = read_json(ctx.paths.raw / "fetch.json")
    return ctx.paths.raw / str(info["file"])


def prepare(ctx: SymbolsContext) -> Facts:
    cfg = ctx.config.data
    fold, val_fraction, seed = cfg.fold, cfg.val_fraction, cfg.seed
    holdout_fraction = ctx.config.feedback.holdout_fraction
    archive = read_archive(raw_archive_path(ctx))
    if fold not in archive.folds:
        raise ValueError(f"fold {fold} is not in the archive (has {sorted(archive.folds)})")
    # the archive's symbols, then any learnt from users (ids from 100,000: the old classes keep their outputs)
    feedback_path = ctx.paths.feedback / FEEDBACK_ARCHIVE
    feedback = read_feedback(feedback_path)
    learnt = read_user_symbols(ctx.paths.feedback / USER_SYMBOLS) if feedback is not None else []
    catalogue_part = archive.symbols.sort_values("symbol_id")
    classes: list[dict[str, Any]] = [
        {"symbol_id": int(sid), "latex": str(latex)}
        for sid, latex in zip(catalogue_part.symbol_id.tolist(), catalogue_part.latex.tolist(), strict=True)
    ]
    classes += [
        {"symbol_id": s.symbol_id, "latex": s.latex, "package": s.package, "mode": s.mode, "origin": "users"}
        for s in learnt
    ]
    class_index = {int(c["symbol_id"]): i for i, c in enumerate(classes)}
    listed = pd.concat(
        [pd.DataFrame({"path": archive.folds[fold][split], "split": split}) for split in ("train", "test")]
    )
    manifest = listed.merge(archive.labels, on="path", how="left", validate="many_to_one")
    unlabelled = manifest.symbol_id.isna()
    if unlabelled.any():
        raise ValueError(
            f"{int(unlabelled.sum())} images of fold {fold} have no label, e.g. {manifest.path[unlabelled].iloc[0]}"
        )
    manifest = manifest.rename(columns={"user_id": "writer"}).astype({"symbol_id": int, "writer": int})
    manifest["label"] = manifest.symbol_id.map(class_index)
    holdout = cfg.writer_holdout
    unseen = held_out_writers(manifest.writer, holdout.fraction[cfg.source], holdout.seed, list(holdout.pools))
    # the fold's test drawings stay the paper's; the held-out writers' training drawings become theirs
    manifest.loc[(manifest.split == "train") & manifest.writer.isin(unseen), "split"] = WRITER_TEST

    manifest["source"] = cfg.source
    raw_images = dict(archive.images)
    if feedback is not None:
        manifest = pd.concat([manifest, feedback[0].assign(label=feedback[0].symbol_id.map(class_index))])
        raw_images.update(feedback[1])

    inks, hashes, stats = [], [], []
    for path in track(manifest.path, description="preprocessing images"):
        raw = raw_images[path]
        ink = normalise_image(raw)
        inks.append(ink)
        hashes.append(hashlib.sha256(ink.tobytes()).hexdigest())
        stats.append(image_stats(255 - raw))  # statistics of the image as the writer drew it
    images = np.stack(inks)
    manifest["sha256"] = hashes
    manifest = pd.concat([manifest.reset_index(drop=True), pd.DataFrame(stats)], axis=1)
    columns = ["path", "symbol_id", "latex", "label", "writer", "split", "source", "sha256", *stats[0]]
    manifest = manifest[columns]
    is_feedback = (manifest.source == "feedback").to_numpy()
    held_out = is_feedback & (manifest.sha256.map(lambda h: int(h[:8], 16) / 16**8) < holdout_fraction).to_numpy()
    manifest.loc[held_out, "split"] = FEEDBACK_TEST

    # nothing seen in training may be scored: drop training (and held-out feedback) copies of test and
    # writer-test images, and held-out feedback that copies a training image
    scored_hashes = set(manifest.loc[manifest.split.isin(SCORED), "sha256"])
    train_hashes = set(manifest.loc[manifest.split == "train", "sha256"])
    leak = (~manifest.split.isin(SCORED) & manifest.sha256.isin(scored_hashes)) | (
        (manifest.split == FEEDBACK_TEST) & manifest.sha256.isin(train_hashes)
    )
    keep = ~leak.to_numpy()
    manifest, images = manifest[keep].reset_index(drop=True), images[keep]
    train = (manifest.split == "train").to_numpy()
    val = np.zeros(len(manifest), dtype=bool)
    val[np.flatnonzero(train)] = stratified_holdout(manifest.label.to_numpy()[train], val_fraction, seed)
    manifest.loc[val, "split"] = "val"

    out = ctx.paths.prepared
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / IMAGES, images)
    manifest.to_parquet(out / MANIFEST, index=False)
    write_json(out / CLASSES, classes)
    summary = {
        "fold": fold,
        "splits": manifest.split.value_counts().to_dict(),
        "classes": len(classes),
        **({"learnt_classes": [s.latex for s in learnt]} if learnt else {}),  # (absent: the same bytes as before)
        "writers": int(manifest.writer.nunique()),
        "held_out_writers": len(unseen),
        "dropped_train_duplicates_of_test": int(leak.sum()),
        "feedback": {
            "train": int(((manifest.source == "feedback") & (manifest.split != FEEDBACK_TEST)).sum()),
            "held_out": int((manifest.split == FEEDBACK_TEST).sum()),
        },
        "source_sha256": read_json(ctx.paths.raw / "fetch.json")["sha256"],
        # the other half of the training set's identity (None: no feedback in it)
        "feedback_sha256": sha256_file(feedback_path) if feedback is not None else None,
    }
    write_json(out / "prepare.json", summary)
    return summary


def read_feedback(path: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]] | None:
    """Accepted feedback (``farga feedback export``) as manifest rows and images; None when there is none."""
    if not path.exists():
        return None
    data = read_archive(path, progress=False)
    if data.labels.empty:
        return None
    rows = data.labels.rename(columns={"user_id": "writer"}).astype({"symbol_id": int, "writer": int})
    return rows.assign(split="train", source="feedback")[["path", "symbol_id", "latex", "writer", "split", "source"]], {
        p: data.images[p] for p in rows.path
    }


def load_split(prepared: Path, split: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    manifest = pd.read_parquet(prepared / MANIFEST)
    images = np.load(prepared / IMAGES, mmap_mode="r")
    mask = (manifest.split == split).to_numpy()
    return np.asarray(images[mask]), manifest.label.to_numpy()[mask], manifest[mask].reset_index(drop=True)


def load_classes(prepared: Path) -> list[dict[str, Any]]:
    classes: list[dict[str, Any]] = read_json(prepared / CLASSES)
    return classes
