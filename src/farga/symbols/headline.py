"""The symbols figures on the front page, read from reports/symbols/ (``farga dev report``)."""

from __future__ import annotations

from pathlib import Path

from farga.cards import pct
from farga.hashing import read_json
from farga.headline import Headline, served_int8, synthetic_warning, trained_on

# The anchor: the strongest public figures on the split reported here, HASYv2's fold 1 (Thoma, "Analysis
# and optimization of convolutional neural network architectures", arXiv:1707.09725, 2017): one network,
# and an ensemble of ten. The HASYv2 paper's 81.0% (arXiv:1701.08380, table 4) is a mean over ten folds.
FOLD1_ONE_NETWORK, FOLD1_ENSEMBLE, PAPER_TEN_FOLD_MEAN = 0.8535, 0.8603, 0.810


def headline(reports: Path) -> Headline:
    m = read_json(reports / "metrics.json")
    writers = m["test_by_writer"]
    real = trained_on(reports) == "HASYv2"
    anchor = (
        f"{FOLD1_ONE_NETWORK:.2%} one network, {FOLD1_ENSEMBLE:.2%} ten (Thoma 2017, fold 1); "
        f"the HASYv2 paper's {pct(PAPER_TEN_FOLD_MEAN)} is a ten-fold mean"
    )
    rows: list[tuple[str, ...]] = [
        ("top-1", f"**{pct(m['test_top1'])}**", anchor if real else ""),
        ("top-5", pct(m["test_top5"]), ""),
        ("top-1 up to a confusable group", pct(m["test_top1_up_to_confusable"]), "e.g. `O`/`0`/`\\circ` as one"),
    ]
    notes = synthetic_warning(reports) + served_int8(m, "test_top1")
    if "writer_test_top1" in m:  # writers held out of training: the closest figure to a new user's
        unseen = f"**{pct(m['writer_test_top1'])}**"
        rows.insert(1, ("top-1, writers it never saw", unseen, f"top-5 {pct(m['writer_test_top5'])}"))
    if real:  # HASYv2's writers: the anonymous Detexify pool, and the identified people
        pool = read_json(reports / "validation.json")["facts"]["main_writer_share"]
        mine, theirs = pct(writers["other_writers"]), pct(writers["main_writer"])
        rows.insert(-1, ("top-1, identified writers also in training", mine, f"{theirs}: anonymous pool"))
        notes.append(
            f"{pct(pool)} of the data comes from one anonymous pool of Detexify users, on both sides of HASYv2's "
            f"folds. {m.get('writer_test_writers', 0)} identified writers ({m.get('writer_test_n', 0):,} drawings) "
            "are held out of training altogether: their figure is what the next person who draws gets."
        )
    return Headline(
        component="symbols",
        caption=f"{'HASYv2 fold 1' if real else 'synthetic stand-in data'}, {m['test_n']:,} test drawings, "
        "scored with the served int8 model",
        header=("measure", "Farga", "anchor"),
        rows=rows,
        notes=notes,
        links={"model card": "reports/symbols/model_card.md", "dataset card": "reports/symbols/dataset_card.md"},
    )
