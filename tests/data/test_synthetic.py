from pathlib import Path

import numpy as np
import pytest

from farga.hashing import sha256_file
from farga.symbols import catalogue
from farga.symbols.acquire import verify
from farga.symbols.archive import read_archive, write_archive
from farga.symbols.params import Synthetic
from farga.symbols.synthetic import generate, write_synthetic

pytestmark = pytest.mark.data


def test_synthetic_data_has_the_hasyv2_layout_and_passes_verification(small_archive, tmp_path: Path):
    path = write_archive(tmp_path / "synthetic.tar", small_archive)
    back = read_archive(path, progress=False)
    report = verify(back, full_catalogue=False)
    assert report["images"] == 12 * 30
    assert report["classes"] == 12
    assert report["folds"] == list(range(1, 11))
    image = next(iter(back.images.values()))
    assert image.shape == (32, 32)
    assert image.dtype == np.uint8
    # black ink on white paper, like HASYv2
    assert np.median(image) == 255
    assert image.min() == 0


def test_synthetic_labels_come_from_the_catalogue(small_archive):
    known = catalogue.by_id()
    for row in small_archive.symbols.itertuples():
        assert known[row.symbol_id].latex == row.latex


def test_same_seed_same_bytes(tmp_path: Path):
    cfg = Synthetic(classes=3, samples_per_class=5, writers=2, seed=11)
    a = write_synthetic(tmp_path / "a.tar", cfg, progress=False)
    b = write_synthetic(tmp_path / "b.tar", cfg, progress=False)
    c = write_synthetic(tmp_path / "c.tar", cfg.model_copy(update={"seed": 12}), progress=False)
    assert sha256_file(a) == sha256_file(b) != sha256_file(c)


def test_samples_of_a_class_differ_like_handwriting():
    archive = generate(Synthetic(classes=1, samples_per_class=10, writers=3, seed=0), progress=False)
    images = np.stack(list(archive.images.values())).astype(bool)
    distinct = {img.tobytes() for img in images}
    assert len(distinct) == 10
