"""Property-based tests over the OpenAPI schema: no server error, no response outside the schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.conftest import settings_for
from farga.serving.app import create_app

pytestmark = pytest.mark.api


@pytest.fixture(scope="module")
def app(trained_project: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("schemathesis") / "served"
    shutil.copytree(trained_project, root)
    application = create_app(settings_for(root))
    with TestClient(application):  # runs the lifespan: models loaded
        yield application


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_schema(case):
    case.call_and_validate()
