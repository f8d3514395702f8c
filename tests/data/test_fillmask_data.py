"""The Catalan corpus: fetching and verifying it, the synthetic stand-in, the split and the data contract."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from farga import components
from farga.config import Settings
from farga.fillmask.contract import validate_corpus
from farga.fillmask.corpus import FetchError, fetch, verify
from farga.fillmask.params import Data
from farga.fillmask.prepare import CORPUS, HeldOutError, assign_split, doc_hash, held_out_sources
from farga.fillmask.sources import SOURCES
from farga.fillmask.synthetic import generate
from support import REPO, config_of, make_ctx, tiny_params

pytestmark = pytest.mark.data
REAL = Path(os.environ.get("FARGA_TEST_CATALAN", REPO.parent / "shared/datasets/catalan"))


def write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("".join(f"{line}\n" for line in lines))
    return path


def test_synthetic_sentences_are_distinct_clean_and_seeded():
    lines = generate(500, seed=1)
    assert len(lines) == len(set(lines)) == 500
    assert all(len(line.split()) >= 5 and line.endswith(".") for line in lines)
    assert generate(50, seed=1) == lines[:50]


def test_a_missing_or_damaged_corpus_file_is_named(tmp_path: Path):
    names = [s.file for s in SOURCES[:3]]
    write_gz(tmp_path / names[0], ["Una frase prou llarga per passar el filtre."])
    (tmp_path / names[1]).write_bytes(b"not gzip at all")
    with pytest.raises(FetchError) as err:
        verify(tmp_path, names, expected=True)
    message = str(err.value)
    assert f"{names[0]}: 1 lines, the cleaned corpus has {SOURCES[0].lines}" in message
    assert f"{names[1]} is not gzipped UTF-8 text" in message
    assert f"{names[2]} is missing" in message


def test_unclean_lines_and_duplicates_across_files_fail_verification(tmp_path: Path):
    write_gz(
        tmp_path / "a.txt.gz", ["Visiteu https://example.org per saber-ne més.", "Una frase repetida en dos fitxers."]
    )
    write_gz(tmp_path / "b.txt.gz", ["Una frase repetida en dos fitxers.", "Curta."])
    with pytest.raises(FetchError) as err:
        verify(tmp_path, ["a.txt.gz", "b.txt.gz"], expected=False)
    message = str(err.value)
    assert "a.txt.gz: 1 url or markup lines" in message
    assert "b.txt.gz: 1 short lines" in message
    assert "1 lines occur more than once" in message


def test_no_corpus_says_where_to_put_it_and_lists_the_public_sources(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("FARGA_CATALAN_CORPUS", raising=False)
    params = tiny_params()
    params["fillmask"]["data"]["source"] = "catalan"
    ctx = make_ctx(tmp_path, params, "fillmask")
    with pytest.raises(FetchError) as err:
        fetch(ctx)
    assert "FARGA_CATALAN_CORPUS" in str(err.value)
    assert "github.com/TeMU-BSC/catalan_CC0_sentences" in str(err.value)
    assert "CC BY-SA 4.0" in str(err.value)


def test_the_split_is_by_document_hash(prepared_project: Path):
    frame = pd.read_parquet(prepared_project / "data/prepared/fillmask" / CORPUS)
    data = config_of(prepared_project, "fillmask").data
    again = [
        assign_split(doc_hash(t), data, s == "synthetic_unseen") for t, s in zip(frame.text, frame.source, strict=True)
    ]
    assert (pd.Series(again) == frame.split).all()
    assert set(frame.split) == {"train", "dev", "val", "unseen_dev", "unseen_test"}
    # a line's case variants hash alike, so they can never straddle two splits
    assert doc_hash("La Casa és gran.") == doc_hash("la casa  és gran.")


def test_the_prepared_synthetic_corpus_honours_the_contract(prepared_project: Path):
    params = config_of(prepared_project, "fillmask")
    frame = pd.read_parquet(prepared_project / "data/prepared/fillmask" / CORPUS)
    report = validate_corpus(frame, ["synthetic", "synthetic_unseen"], params.data, params.contract)
    assert report.ok, report.findings


def test_a_held_out_source_is_never_read(prepared_project: Path):
    """Its lines are only in the unseen splits, and the held-out draw keeps no line a training source has."""
    frame = pd.read_parquet(prepared_project / "data/prepared/fillmask" / CORPUS)
    unseen = frame[frame.source == "synthetic_unseen"]
    assert set(unseen.split) == {"unseen_dev", "unseen_test"}
    assert set(frame.source[frame.split.isin(["unseen_dev", "unseen_test"])]) == {"synthetic_unseen"}
    assert not set(unseen.doc_hash) & set(frame.doc_hash[frame.source != "synthetic_unseen"])
    params = config_of(prepared_project, "fillmask")
    leaked = frame.copy()
    row = leaked.index[leaked.source == "synthetic_unseen"][0]
    leaked.loc[row, "split"] = "train"
    copied = leaked.index[leaked.split == "train"][0]
    leaked.loc[leaked.index[leaked.split == "unseen_test"][0], ["text", "doc_hash"]] = leaked.loc[
        copied, ["text", "doc_hash"]
    ].to_numpy()
    report = validate_corpus(leaked, ["synthetic", "synthetic_unseen"], params.data, params.contract)
    found = " ".join(f"{f.check}: {f.detail}" for f in report.findings)
    assert "held-out sources in train/dev/val: ['synthetic_unseen']" in found
    assert "1 unseen lines also in a training source" in found


def test_a_held_out_source_the_corpus_lacks_is_an_error():
    data = config_of(REPO, "fillmask").data

    def holding(source: str, names: list[str]) -> Data:
        return data.model_copy(update={"source": source, "held_out": {"catalan": names}})

    with pytest.raises(HeldOutError, match=r"names \['globalvoice'\], not sources"):
        held_out_sources(holding("catalan", ["globalvoice"]), ["globalvoices", "tatoeba"])
    with pytest.raises(HeldOutError, match="holds out every source"):
        held_out_sources(holding("catalan", ["tatoeba"]), ["tatoeba"])
    assert held_out_sources(holding("synthetic", ["tatoeba"]), ["synthetic"]) == []


def test_the_contract_catches_moved_lines_short_lines_and_markup(prepared_project: Path):
    params = config_of(prepared_project, "fillmask")
    frame = pd.read_parquet(prepared_project / "data/prepared/fillmask" / CORPUS)
    bad = frame.copy()
    bad.loc[bad.index[0], "split"] = "val" if bad.split.iloc[0] != "val" else "train"
    bad.loc[bad.index[1], "text"] = "Massa curta."
    bad.loc[bad.index[2], "text"] = "Llegiu <b>això</b> amb molta atenció si us plau."
    bad.loc[bad.index[3], "source"] = "unknown_source"
    report = validate_corpus(bad, ["synthetic", "synthetic_unseen"], params.data, params.contract)
    checks = " ".join(f.check for f in report.findings)
    assert "split by document hash" in checks
    assert "at least five words" in checks
    assert "no URL or markup" in checks
    assert "source" in checks


@pytest.mark.real_data
@pytest.mark.skipif(not REAL.is_dir(), reason=f"no Catalan corpus at {REAL} (set FARGA_TEST_CATALAN)")
def test_the_real_corpus_verifies_file_by_file(tmp_path: Path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    facts = fetch(components.context("fillmask", Settings(root=tmp_path)), REAL)
    assert facts["file_count"] == 25
    assert facts["lines"] == 212_281
    assert facts["words"] == sum(s.words for s in SOURCES)
    manifest = yaml.safe_load((tmp_path / "data/raw/fillmask/fetch.json").read_text())
    assert all(f["licence"] and f["origin"] for f in manifest["files"])
    shutil.rmtree(tmp_path / "data")
