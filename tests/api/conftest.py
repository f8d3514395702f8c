from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from farga.serving.app import create_app
from farga.serving.settings import ServeSettings


@pytest.fixture
def served(trained_project: Path, tmp_path: Path) -> Path:
    """A private copy of the trained project (its registry and feedback store are the test's own)."""
    root = tmp_path / "served"
    shutil.copytree(trained_project, root)
    return root


def settings_for(root: Path, **overrides) -> ServeSettings:
    return ServeSettings(root=root, reload_interval_s=0, api_key="secret", **overrides)


@pytest.fixture
def client(served: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(served))) as c:
        yield c


def png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def drawing(size: int = 200) -> np.ndarray:
    """A dark cross on white paper."""
    img = np.full((size, size), 255, np.uint8)
    for i in range(20, size - 20):
        img[i, i - 3 : i + 3] = 0
        img[i, size - i - 3 : size - i + 3] = 0
    return img


CROSS = {"strokes": [[{"x": 0, "y": 0}, {"x": 100, "y": 100}], [{"x": 0, "y": 100}, {"x": 100, "y": 0}]]}
