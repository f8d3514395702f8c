"""The fillmask data contract: what the prepared corpus must be before a model may learn from it."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from farga.facts import Facts
from farga.fillmask.corpus import manifest
from farga.fillmask.params import Contract, Data, FillmaskContext
from farga.fillmask.prepare import CORPUS, SEEN, SPLITS, UNSEEN, assign_split, held_out_sources
from farga.hashing import write_json
from farga.validation import ContractReport, ContractViolation, check, check_frame


def schema(sources: list[str]) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "text": pa.Column(
                str,
                [
                    pa.Check(lambda s: s.str.split().str.len() >= 5, name="at least five words"),
                    pa.Check.str_matches(r"^\S(.*\S)?$", name="no leading or trailing space"),
                    pa.Check(
                        lambda s: ~s.str.contains(r"https?://|<[a-z/][^>]*>", regex=True), name="no URL or markup"
                    ),
                ],
                unique=True,
            ),
            "source": pa.Column(str, pa.Check.isin(sources)),
            "doc_hash": pa.Column(str, pa.Check.str_matches(r"^[0-9a-f]{64}$")),  # case variants share one: one split
            "split": pa.Column(str, pa.Check.isin(SPLITS)),
        },
        strict=True,
    )


def validate_corpus(frame: pd.DataFrame, sources: list[str], data: Data, rules: Contract) -> ContractReport:
    report = ContractReport("fillmask")
    check_frame(report, schema(sources), frame)
    held_out = set(held_out_sources(data, sources))
    unseen = frame.split.isin(UNSEEN)
    seen = frame[~unseen]

    def split_is_hash_split() -> str | None:
        expected = [assign_split(d, data, s in held_out) for d, s in zip(frame.doc_hash, frame.source, strict=True)]
        moved = int((pd.Series(expected, index=frame.index) != frame.split).sum())
        return f"{moved} lines are not in the split their hash assigns" if moved else None

    def shares() -> str | None:
        bad = []
        for split, (low, high) in rules.split_share.items():
            share = float((seen.split == split).mean())
            if not low <= share <= high:
                bad.append(f"{split} {share:.3f} outside [{low}, {high}]")
        return "; ".join(bad) or None

    def every_source_trains() -> str | None:
        missing = sorted(set(sources) - held_out - set(seen.source[seen.split == "train"]))
        return f"sources with no training line: {missing}" if missing else None

    def held_out_never_read() -> str | None:
        leaked = sorted(set(seen.source) & held_out)
        shared = int(frame.doc_hash[unseen].isin(set(seen.doc_hash)).sum())
        problems = [f"held-out sources in {'/'.join(SEEN)}: {leaked}"] if leaked else []
        problems += [f"{shared} unseen lines also in a training source"] if shared else []
        return "; ".join(problems) or None

    def enough_unseen_text() -> str | None:
        if not held_out:
            return None
        lines = int((frame.split == "unseen_test").sum())
        need = rules.min_unseen_lines.get(data.source, 0)
        return f"{lines} unseen_test lines, fewer than {need}" if lines < need else None

    def enough_text() -> str | None:
        words = int(frame.text[frame.split == "train"].map(lambda t: len(t.split())).sum())
        need = rules.min_train_words
        return f"{words} training words, fewer than {need}" if words < need else None

    for name, predicate in (
        ("split by document hash", split_is_hash_split),
        ("split shares", shares),
        ("every source in training but the held-out ones", every_source_trains),
        ("held-out sources never read", held_out_never_read),
        ("held-out text size", enough_unseen_text),
        ("training text size", enough_text),
    ):
        check(report, name, predicate)
    report.facts = {"lines": len(frame), "splits": frame.split.value_counts().to_dict()}
    return report


def validate(ctx: FillmaskContext) -> Facts:
    frame = pd.read_parquet(ctx.paths.prepared / CORPUS)
    sources = [f["file"].removesuffix(".txt.gz") for f in manifest(ctx.paths.raw)["files"]]
    report = validate_corpus(frame, sources, ctx.config.data, ctx.config.contract)
    report.render()
    write_json(ctx.paths.reports / "validation.json", report.as_dict())
    if not report.ok:
        raise ContractViolation(report)
    return report.as_dict()
