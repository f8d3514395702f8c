from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from farga import components
from farga.config import Settings
from farga.hashing import read_json
from farga.symbols.contract import validate, validate_dataset
from farga.symbols.params import Contract
from farga.symbols.prepare import IMAGES, MANIFEST, WRITER_TEST, load_classes, stratified_holdout
from farga.validation import ContractViolation

pytestmark = pytest.mark.data


def load(root: Path):
    prepared = root / "data" / "prepared" / "symbols"
    return pd.read_parquet(prepared / MANIFEST), np.load(prepared / IMAGES), load_classes(prepared)


def contract_cfg(root: Path) -> Contract:
    return components.context("symbols", Settings(root=root)).config.contract


def test_prepare_follows_the_fold_and_carves_validation_from_training(prepared_project: Path):
    manifest, images, classes = load(prepared_project)
    assert len(images) == len(manifest)
    assert images.shape[1:] == (32, 32)
    assert set(manifest.split) == {"train", "val", "test", "writer_test"}
    # synthetic fold 1 holds out sample k % 10 == 0 of each class: 3 of 30
    assert (manifest.split == "test").sum() == 12 * 3
    assert manifest.groupby("label").size().min() == 30 - 0  # every sample is kept
    assert read_json(prepared_project / "data/prepared/symbols/prepare.json")["classes"] == len(classes) == 12


def test_held_out_writers_are_never_trained_on_and_stay_the_same(prepared_project: Path, tmp_path: Path):
    from farga.symbols.prepare import held_out_writers

    manifest, _, _ = load(prepared_project)
    unseen = set(manifest.writer[manifest.split == WRITER_TEST])
    assert unseen == {1007}  # tiny_params: fraction 0.05 of synthetic writers, seed 2
    assert not unseen & set(manifest.writer[manifest.split.isin(["train", "val"])])
    # the fold's test keeps their test drawings: the paper's split is untouched
    assert (manifest[manifest.split == "test"].writer == 1007).any()
    writers = pd.Series([16925, *range(1000, 1300)])
    chosen = held_out_writers(writers, 0.3, 2, pools=[16925])
    assert chosen == held_out_writers(writers.sample(frac=1, random_state=0), 0.3, 2, pools=[16925])
    assert 16925 not in chosen
    assert 60 <= len(chosen) <= 120  # about 30% of 300, by hash
    assert held_out_writers(writers, 0.3, 3, pools=[16925]) != chosen  # the seed salts the draw


def test_the_prepared_data_passes_its_contract(prepared_project: Path):
    report = read_json(prepared_project / "reports" / "symbols" / "validation.json")
    assert report["ok"]
    assert report["checks_run"] == 7
    assert report["findings"] == []


def test_stratified_holdout_takes_each_class_share():
    labels = np.repeat(np.arange(5), 40)
    chosen = stratified_holdout(labels, 0.1, seed=0)
    assert np.bincount(labels[chosen]).tolist() == [4] * 5
    assert np.array_equal(chosen, stratified_holdout(labels, 0.1, seed=0))


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (lambda m, i: m.assign(label=m.label.where(m.index != 0, 999)), "label: in_range"),
        (lambda m, i: m.assign(latex=m.latex.where(m.index != 1, r"\notasymbol")), "latex: isin"),
        (lambda m, i: m.assign(latex=m.latex.where(m.index != 2, m.latex.iloc[-1])), "latex matches symbol_id"),
        (lambda m, i: m.assign(split=m.split.where(m.index != 3, "holdout")), "split: isin"),
        (lambda m, i: m.assign(ink_fraction=-m.ink_fraction), "ink_fraction: in_range"),
        (
            lambda m, i: m.assign(sha256=m.sha256.where(m.split != "train", m.sha256[m.split == "test"].iloc[0])),
            "no image shared between train/val and the test splits",
        ),
        (
            lambda m, i: m.assign(sha256=m.sha256.where(m.split != "val", m.sha256[m.split == WRITER_TEST].iloc[0])),
            "no image shared between train/val and the test splits",
        ),
        (
            lambda m, i: m.assign(
                writer=m.writer.where(m.split != "train", m.writer[m.split == "writer_test"].iloc[0])
            ),
            "no writer of writer_test in train/val",
        ),
        (lambda m, i: m.assign(split=m.split.where(m.split != "train", "val")), "minimum training samples"),
        (lambda m, i: m.assign(split=m.split.where(m.split != "train", "val")), "split sizes"),
        (lambda m, i: m.drop(columns="writer"), "writer"),
        (lambda m, i: m.iloc[:-1], "manifest rows"),
    ],
)
def test_the_contract_rejects_a_corrupted_manifest(prepared_project: Path, corrupt, expected):
    manifest, images, classes = load(prepared_project)
    report = validate_dataset(corrupt(manifest, images), images, classes, contract_cfg(prepared_project), False)
    assert not report.ok
    assert any(expected in f"{f.check} {f.detail}" for f in report.findings), report.findings


def test_the_contract_rejects_corrupted_arrays(prepared_project: Path):
    manifest, images, classes = load(prepared_project)
    grey = images.copy()
    grey[0, 0, 0] = 7
    blank = images.copy()
    blank[5] = 0
    for bad, expected in [(grey, "binary"), (blank, "no ink"), (images[:, :16, :16], "(N, 32, 32)")]:
        report = validate_dataset(manifest, bad, classes, contract_cfg(prepared_project), False)
        assert any(expected in f.detail for f in report.findings), report.findings


def test_real_data_must_cover_the_whole_catalogue(prepared_project: Path):
    manifest, images, classes = load(prepared_project)
    report = validate_dataset(manifest, images, classes, contract_cfg(prepared_project), True)
    assert any("of the catalogue's 369 symbols" in f.detail for f in report.findings)


def test_a_class_outside_the_catalogue_must_be_one_learnt_from_users(prepared_project: Path):
    manifest, images, classes = load(prepared_project)
    stranger = {"symbol_id": 123_456, "latex": r"\spadesuit"}
    report = validate_dataset(manifest, images, [*classes, stranger], contract_cfg(prepared_project), False)
    assert any("neither the catalogue's nor learnt from users" in f.detail for f in report.findings)
    learnt = validate_dataset(
        manifest, images, [*classes, stranger | {"origin": "users"}], contract_cfg(prepared_project), False
    )
    assert not any("neither" in f.detail for f in learnt.findings)
    assert any("missing: [123456]" in f.detail for f in learnt.findings)  # declared, yet no drawing of it


def test_a_violation_stops_the_stage_with_a_readable_report(prepared_copy: Path):
    manifest_path = prepared_copy / "data" / "prepared" / "symbols" / MANIFEST
    manifest = pd.read_parquet(manifest_path)
    manifest.loc[0, "symbol_id"] = 123456
    manifest.to_parquet(manifest_path, index=False)
    with pytest.raises(ContractViolation) as err:
        validate(components.context("symbols", Settings(root=prepared_copy)))
    assert "symbol_id: isin" in str(err.value)
    saved = read_json(prepared_copy / "reports" / "symbols" / "validation.json")
    assert saved["ok"] is False
    assert saved["findings"]
