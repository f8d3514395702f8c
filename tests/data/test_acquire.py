import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from farga import components
from farga.cli import app
from farga.symbols.acquire import ARCHIVE_ENV, FetchError, locate_archive, verify
from farga.symbols.archive import ArchiveError, HasyArchive, read_archive, write_archive

pytestmark = pytest.mark.data


def copy_archive(a: HasyArchive) -> HasyArchive:
    folds = {k: {s: list(p) for s, p in v.items()} for k, v in a.folds.items()}
    return HasyArchive(a.labels.copy(), a.symbols.copy(), folds, dict(a.images))


def test_explicit_archive_wins_over_environment(tmp_path: Path, monkeypatch):
    given, env = tmp_path / "given.tar.bz2", tmp_path / "env.tar.bz2"
    given.write_bytes(b"x")
    env.write_bytes(b"y")
    monkeypatch.setenv(ARCHIVE_ENV, str(env))
    assert locate_archive(tmp_path, given) == given
    assert locate_archive(tmp_path, None) == env


def test_a_missing_archive_path_is_named(tmp_path: Path, monkeypatch):
    with pytest.raises(FetchError, match="does not exist"):
        locate_archive(tmp_path, tmp_path / "nope.tar.bz2")
    monkeypatch.setenv(ARCHIVE_ENV, str(tmp_path / "gone.tar.bz2"))
    with pytest.raises(FetchError, match=ARCHIVE_ENV):
        locate_archive(tmp_path, None)


def test_no_network_and_no_archive_names_both_remedies(tmp_path: Path):
    with pytest.raises(FetchError) as err:
        locate_archive(tmp_path, None)  # downloads from FARGA_HASYV2_URL: a closed local port
    message = str(err.value)
    assert "--archive PATH" in message
    assert ARCHIVE_ENV in message
    assert "symbols.data.source: synthetic" in message
    assert not (tmp_path / "data" / "external" / "HASYv2.tar.bz2.part").exists()


def test_cli_fetch_without_archive_fails_with_a_message_not_a_traceback(project: Path, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("FARGA_ROOT", str(project))
    params = (project / "params.yaml").read_text().replace("source: synthetic", "source: hasyv2")
    (project / "params.yaml").write_text(params)
    result = CliRunner().invoke(app, ["data", "fetch", "symbols"])
    assert result.exit_code == 1
    assert "symbols.data.source: synthetic" in result.output
    assert "Traceback" not in result.output


def test_fetch_from_a_local_archive_copies_verifies_and_hashes(small_archive, project: Path, monkeypatch):
    from farga.config import Settings
    from farga.hashing import sha256_file
    from farga.symbols.acquire import fetch

    archive = write_archive(project / "elsewhere" / "mine.tar", small_archive)
    ctx = components.context("symbols", Settings(root=project))
    real = ctx.config.model_copy(update={"data": ctx.config.data.model_copy(update={"source": "hasyv2"})})
    with pytest.raises(FetchError, match=r"classes in symbols\.csv, expected 369"):
        fetch(replace(ctx, config=real), archive)  # the real source must hold the whole catalogue
    info = fetch(ctx, None)
    assert info["sha256"] == sha256_file(project / "data" / "raw" / "symbols" / info["file"])
    assert info["classes"] == 12


def test_verification_lists_every_problem(small_archive):
    broken = copy_archive(small_archive)
    first = broken.labels.path.iloc[0]
    del broken.images[first]
    broken.bad_images = ["hasy-data/v2-99999.png"]
    broken.symbols.loc[0, "latex"] = r"\notasymbol"
    broken.folds[1]["test"].append(broken.folds[1]["train"][0])
    with pytest.raises(FetchError) as err:
        verify(broken, full_catalogue=False)
    text = str(err.value)
    for fragment in [
        "not in the catalogue",
        "do not decode to 32x32",
        "missing from the archive",
        "in both train and test",
    ]:
        assert fragment in text


def test_a_corrupt_png_is_reported_not_crashed_on(small_archive, tmp_path: Path):
    good = write_archive(tmp_path / "good.tar", small_archive)
    bad = tmp_path / "bad.tar"
    with tarfile.open(good) as src, tarfile.open(bad, "w") as dst:
        for member in src:
            data = src.extractfile(member)
            if member.name.endswith("v2-00000.png"):
                member.size = 10
                dst.addfile(member, __import__("io").BytesIO(b"not a png!"))
            else:
                dst.addfile(member, data)
    archive = read_archive(bad, progress=False)
    assert archive.bad_images == ["hasy-data/v2-00000.png"]
    with pytest.raises(FetchError, match="do not decode"):
        verify(archive, full_catalogue=False)


def test_not_an_archive(tmp_path: Path):
    junk = tmp_path / "junk.tar.bz2"
    junk.write_bytes(b"hello")
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        read_archive(junk)
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(ArchiveError, match="lacks"):
        read_archive(empty)


def test_a_repacked_archive_with_a_top_folder_reads_the_same(small_archive, tmp_path: Path):
    flat = write_archive(tmp_path / "flat.tar", small_archive)
    extracted = tmp_path / "x" / "HASYv2"
    with tarfile.open(flat) as tar:
        tar.extractall(extracted, filter="data")
    nested = tmp_path / "nested.tar.gz"
    with tarfile.open(nested, "w:gz") as tar:
        tar.add(extracted, arcname="HASYv2")
    a, b = read_archive(flat, progress=False), read_archive(nested, progress=False)
    assert set(a.images) == set(b.images)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    shutil.rmtree(extracted)
