"""Drift on real data: how `farga ops monitor` judges unseen HASYv2 drawings, and the same drawings thicker.

Run from a checkout whose pipeline has run (a champion in the registry, data/prepared/symbols):

    .venv/bin/python tools/drift_on_hasyv2.py [--window 1000]

The drawings are logged to a throwaway prediction log (not the project's feedback.db), then judged by
`farga ops monitor symbols` exactly as in production. docs/monitoring.md quotes its table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage

from farga.serving.store import FeedbackStore
from farga.symbols.monitoring import replay
from farga.symbols.prepare import load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--window", type=int, default=1000)
    args = parser.parse_args()
    images, _, _ = load_split(Path("data/prepared/symbols"), "test")
    pick = images[np.random.default_rng(0).choice(len(images), args.window, replace=False)]
    windows = {
        "unseen drawings of the test fold": pick,
        "the same drawings, 2 px thicker": np.stack([ndimage.grey_dilation(i, size=(2, 2)) for i in pick]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/log.db"
        store = FeedbackStore(url)
        print(
            "| window | input (share; ink density) | embedding AUC | class mix (beyond chance) | confidence | verdict |"
        )
        print("|---|---|---|---|---|---|")
        for name, inks in windows.items():
            replay(store, inks)
            out = Path(tmp) / "report"
            env = {**os.environ, "FARGA_DATABASE_URL": url}
            farga = Path(sys.executable).parent / "farga"
            subprocess.run(
                [str(farga), "monitor", "symbols", "--window", str(args.window), "--out", str(out)],
                env=env,
                check=True,
                capture_output=True,
            )
            kinds = json.loads((out / "drift.json").read_text())["kinds"]
            ink = kinds["input"]["features"]["ink_fraction"]["score"]
            drifted = [k for k, v in kinds.items() if v["drifted"]]
            print(
                f"| {name} | {kinds['input']['score']:.2f} ({ink:.2f} sd) | {kinds['embedding']['score']:.2f} "
                f"| {kinds['prediction']['score']:.2f} | {kinds['confidence']['score']:.2f} sd "
                f"| {', '.join(drifted) or 'no drift'} |"
            )


if __name__ == "__main__":
    main()
