from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_support import settings_for
from farga.app import create_app


@pytest.fixture
def client(served: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(served))) as c:
        yield c
