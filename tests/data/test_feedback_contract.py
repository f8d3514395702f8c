"""Exported feedback is checked before it may enter training: labels, images, no test images, no repeats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from farga.cli import app
from farga.symbols.archive import HasyArchive, write_archive
from farga.symbols.contract import feedback_report
from farga.symbols.prepare import load_split

pytestmark = pytest.mark.data


def feedback_archive(path: Path, inks: list[np.ndarray], labels: list[tuple[int, str]]) -> Path:
    rows = [(f"hasy-data/feedback-{i}.png", sid, latex, 0) for i, (sid, latex) in enumerate(labels)]
    frame = pd.DataFrame(rows, columns=["path", "symbol_id", "latex", "user_id"])
    images = {row[0]: 255 - ink for row, ink in zip(rows, inks, strict=True)}  # black ink on white
    symbols = frame[["symbol_id", "latex"]].drop_duplicates()
    return write_archive(path, HasyArchive(frame, symbols, {}, images))


def train_samples(prepared_project: Path, n: int) -> tuple[list[np.ndarray], list[tuple[int, str]]]:
    images, _, manifest = load_split(prepared_project / "data/prepared/symbols", "train")
    return [images[i] for i in range(n)], [(int(r.symbol_id), r.latex) for r in manifest.head(n).itertuples()]


def test_clean_feedback_passes(prepared_project: Path, tmp_path: Path):
    inks, labels = train_samples(prepared_project, 6)
    report = feedback_report(
        feedback_archive(tmp_path / "fb.tar", inks, labels), prepared_project / "data/prepared/symbols"
    )
    assert report.ok, report.findings
    assert report.facts["samples"] == 6


def test_corrupted_feedback_is_refused_with_every_reason(prepared_project: Path, tmp_path: Path, monkeypatch):
    inks, labels = train_samples(prepared_project, 4)
    test_images, _, test_manifest = load_split(prepared_project / "data/prepared/symbols", "test")
    other = test_manifest[test_manifest.symbol_id != labels[0][0]].iloc[0]
    inks += [np.zeros((32, 32), np.uint8), test_images[0], inks[0]]  # blank, a test image, a repeat ...
    labels += [
        labels[1],
        (int(test_manifest.symbol_id[0]), test_manifest.latex[0]),
        (int(other.symbol_id), other.latex),
    ]
    labels[3] = (999999, r"\notasymbol")  # ... with another label, and a label outside the catalogue
    archive = feedback_archive(tmp_path / "fb.tar", inks, labels)

    report = feedback_report(archive, prepared_project / "data/prepared/symbols")
    found = {f.check: f.detail for f in report.findings}
    assert any(name.startswith("symbol_id") for name in found)
    assert any(name.startswith("latex") for name in found)
    assert "1 images missing, unreadable or blank" in found["images decodable, 32x32, with ink"]
    assert found["no image of the test split"].startswith("1 images are pixel-identical")
    assert "(1 of them with different labels)" in found["no image given twice"]

    monkeypatch.chdir(prepared_project)
    monkeypatch.setenv("FARGA_ROOT", str(prepared_project))
    result = CliRunner().invoke(app, ["data", "validate-feedback", "symbols", "--archive", str(archive)])
    assert result.exit_code == 1
    assert "no image of the test split" in result.output
    saved = json.loads((prepared_project / "reports/symbols/feedback_validation.json").read_text())
    assert not saved["ok"]
