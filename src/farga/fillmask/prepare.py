"""From raw files to one table of lines, each assigned to a split by the hash of its text.

Hashing rather than shuffling makes the split deterministic and stable: a line stays in its split
when the corpus grows, so validation never leaks into training across versions. ``dev`` is a small
slice used during training (the best epoch); ``val`` is only scored. Both share their sources, and
those sources' repeated phrasing, with training, which flatters a model that remembers.

So whole sources (``data.held_out``) are kept apart: their lines go to ``unseen_dev`` (what the
served mixture's weight is chosen on) and ``unseen_test`` (only scored), and never into training, dev,
the tokenizer or the vocabularies. A held-out line that also occurs in a training source (up to case
and spacing) is dropped, so "never read" holds line by line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from farga.errors import FargaError
from farga.facts import Facts
from farga.fillmask.corpus import manifest, read_lines
from farga.fillmask.params import Data, FillmaskContext
from farga.hashing import read_json, write_json

CORPUS = "corpus.parquet"
SEEN = ("train", "dev", "val")  # the splits of the sources that train
UNSEEN = ("unseen_dev", "unseen_test")  # the splits of the held-out sources
SPLITS = SEEN + UNSEEN


class HeldOutError(FargaError, ValueError):
    """``data.held_out`` names a source the corpus does not have."""


def doc_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def bucket(digest: str) -> float:
    return int(digest[:8], 16) / 0x1_0000_0000


def assign_split(digest: str, data: Data, held_out: bool = False) -> str:
    """The split of a line, from its hash and whether its source is held out."""
    at = bucket(digest)
    if held_out:
        return "unseen_dev" if at < data.unseen_dev_fraction else "unseen_test"
    if at < data.val_fraction:
        return "val"
    return "dev" if at < data.val_fraction + data.dev_fraction else "train"


def held_out_sources(data: Data, sources: list[str]) -> list[str]:
    """The sources ``data.held_out`` keeps apart for this data source; a name the corpus lacks is an error
    (a typo would otherwise quietly train on the source meant to be unseen)."""
    names = list(data.held_out.get(data.source, []))
    unknown = sorted(set(names) - set(sources))
    if unknown:
        raise HeldOutError(
            f"fillmask.data.held_out.{data.source} names {unknown}, not sources of this corpus: {sorted(sources)}"
        )
    if set(names) >= set(sources):
        raise HeldOutError(f"fillmask.data.held_out.{data.source} holds out every source: nothing would train")
    return names


def prepare(ctx: FillmaskContext) -> Facts:
    cfg = ctx.config.data
    raw, out = ctx.paths.raw, ctx.paths.prepared
    fetched = manifest(raw)
    sources = [entry["file"].removesuffix(".txt.gz") for entry in fetched["files"]]
    held_out = set(held_out_sources(cfg, sources))
    rows = []
    for entry, source in zip(fetched["files"], sources, strict=True):
        for line in read_lines(raw / entry["file"]):
            digest = doc_hash(line)
            rows.append((line, source, digest, assign_split(digest, cfg, source in held_out)))
    frame = pd.DataFrame(rows, columns=["text", "source", "doc_hash", "split"])
    unseen = frame.split.isin(UNSEEN)
    read = unseen & frame.doc_hash.isin(set(frame.doc_hash[~unseen]))
    frame = frame[~read].reset_index(drop=True)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / CORPUS, index=False)
    facts = {
        "source": fetched["source"],
        "source_sha256": fetched["sha256"],
        "held_out": sorted(held_out),
        "held_out_lines_also_in_training_sources": int(read.sum()),
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
