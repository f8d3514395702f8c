"""Label screening on real data: how many true labels the quarantine rule lets through, how many wrong
ones it catches, on HASYv2 test drawings the model never saw.

Run from a checkout whose pipeline has run (models/symbols with its reference, data/prepared/symbols):

    .venv/bin/python tools/screening_on_hasyv2.py [--n 2000]

Wrong labels are drawn at random from the other 368 symbols: a careless or hostile user, not an honest
confusion of look-alikes (those are what the model and the neighbours cannot settle, and pass).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from farga.symbols import catalogue
from farga.symbols.monitoring import screen_feedback
from farga.symbols.prepare import load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    cfg = yaml.safe_load(Path("params.yaml").read_text())["symbols"]["feedback"]["quarantine"]
    images, _, rows = load_split(Path("data/prepared/symbols"), "test")
    rng = np.random.default_rng(0)
    pick = rng.choice(len(images), args.n, replace=False)
    inputs = [np.ascontiguousarray(images[i]).tobytes() for i in pick]
    known = catalogue.by_id()
    truth = [known[int(s)].latex for s in rows.symbol_id.to_numpy()[pick]]
    everything = sorted(s.latex for s in catalogue.symbols())
    wrong = [rng.choice([s for s in everything if s != t]) for t in truth]
    model = Path("models/symbols")
    kept = np.mean([v["accepted"] for v in screen_feedback(model, inputs, truth, cfg)])
    caught = np.mean([not v["accepted"] for v in screen_feedback(model, inputs, [str(w) for w in wrong], cfg)])
    print(f"quarantine rule {cfg}, {args.n} test drawings")
    print(f"true labels accepted: {kept:.1%}; random wrong labels quarantined: {caught:.1%}")


if __name__ == "__main__":
    main()
