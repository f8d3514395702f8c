"""The fillmask figures on the front page, read from reports/fillmask/ (``farga dev report``).

Held-out sources come first: that is the text a new user brings. Validation, which shares its
sources with training, stands beside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from farga.cards import pct
from farga.hashing import read_json
from farga.headline import Headline, served_int8, synthetic_warning


def cells(splits: list[dict[str, Any]], model: str) -> tuple[str, ...]:
    return tuple(pct(s["models"][model][k]) for s in splits for k in ("top1", "top5"))


def headline(reports: Path) -> Headline:
    m = read_json(reports / "metrics.json")
    val, unseen = m["val"], m.get("unseen")
    names = {
        "served": f"served: transformer + trigram (weight {m['ngram_weight']})",
        "transformer": "transformer alone",
        "trigram": "trigram (the anchor)",
    }
    splits = [val] if unseen is None else [unseen, val]
    header = ("predictor", *(() if unseen is None else ("unseen sources top-1", "top-5")), "validation top-1", "top-5")
    rows = [(label, *cells(splits, name)) for name, label in names.items()]
    notes = list(synthetic_warning(reports))
    bar = m["bar"]
    where = "on sources it never read" if bar["split"] == "unseen" else "on validation"
    notes.append(
        f"Served / trigram {where}: {bar['served_vs_trigram_top1']:.2f}x top-1, {bar['served_vs_trigram_top5']:.2f}x "
        f"top-5; the transformer alone: {bar['transformer_vs_trigram_top1']:.2f}x top-1."
    )
    mixture = m.get("mixture")
    if mixture and mixture["weight"] != mixture["dev_weight"] and unseen is not None:
        other = mixture["results"][str(mixture["dev_weight"])]["unseen"]
        notes.append(
            "The trigram's weight was chosen on held-out sources' dev lines; dev, which shares training's sources, "
            f"would have chosen {mixture['dev_weight']} ({pct(other['top1'])} / "
            f"{pct(other['top5'])} on unseen sources)."
        )
    notes += served_int8(m, "unseen_top1" if unseen is not None else "val_top1")
    return Headline(
        component="fillmask",
        caption=(
            "Catalan sentences with one word masked each"
            + (f": {unseen['positions']:,} from whole sources held out of training, and " if unseen else ": ")
            + f"{val['positions']:,} validation sentences (documents unseen, sources shared with training)"
        ),
        header=header,
        rows=rows,
        notes=notes,
        links={
            "model card": "reports/fillmask/model_card.md",
            "dataset card": "reports/fillmask/dataset_card.md",
            "the component": "docs/fillmask.md",
        },
    )
