"""From raw files to one table of lines, each assigned to a split by the hash of its text.

Hashing rather than shuffling makes the split deterministic and stable: a line stays in its split
when the corpus grows, so validation never leaks into training across versions. ``dev`` is a small
slice used during training (best epoch, the combined predictor's weight); ``val`` is only scored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from farga.components import Facts
from farga.config import StageContext
from farga.fillmask.corpus import manifest, read_lines
from farga.hashing import read_json, write_json

CORPUS = "corpus.parquet"
SPLITS = ("train", "dev", "val")


def doc_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def assign_split(digest: str, val_fraction: float, dev_fraction: float) -> str:
    bucket = int(digest[:8], 16) / 0x1_0000_0000
    if bucket < val_fraction:
        return "val"
    return "dev" if bucket < val_fraction + dev_fraction else "train"


def prepare(ctx: StageContext) -> Facts:
    cfg = ctx.params["data"]
    raw, out = ctx.paths.raw, ctx.paths.prepared
    fetched = manifest(raw)
    rows = []
    for entry in fetched["files"]:
        source = entry["file"].removesuffix(".txt.gz")
        for line in read_lines(raw / entry["file"]):
            digest = doc_hash(line)
            rows.append((line, source, digest, assign_split(digest, cfg["val_fraction"], cfg["dev_fraction"])))
    frame = pd.DataFrame(rows, columns=["text", "source", "doc_hash", "split"])
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / CORPUS, index=False)
    facts = {
        "source": fetched["source"],
        "source_sha256": fetched["sha256"],
        "lines": len(frame),
        "splits": {s: int((frame.split == s).sum()) for s in SPLITS},
        "words": {s: int(frame.text[frame.split == s].map(lambda t: len(t.split())).sum()) for s in SPLITS},
    }
    write_json(out / "prepare.json", facts)
    return facts


def load_split(prepared: Path, split: str, column: str = "text") -> list[str]:
    """One column of a split's lines, in corpus order (``source`` lines up with ``text``)."""
    frame = pd.read_parquet(prepared / CORPUS, columns=[column, "split"])
    return frame[column][frame.split == split].tolist()


def prepared_facts(prepared: Path) -> dict[str, Any]:
    facts: dict[str, Any] = read_json(prepared / "prepare.json")
    return facts
