"""Schemathesis over the OpenAPI schema of a real server, both components: no server error, no schema
violation, in single calls and in chains of calls that follow the schema's links (predict, then the
feedback on that prediction)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from api_support import ADMIN_KEY
from farga.serving.process import running_server

pytestmark = pytest.mark.api

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def test_the_api_honours_its_schema(served: Path):
    schemathesis = Path(sys.executable).parent / "schemathesis"
    with running_server(served, env={"FARGA_API_KEY": ADMIN_KEY}) as url:
        done = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "40",
                "--seed",
                "1",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--no-color",
                "--header",
                f"X-API-Key: {ADMIN_KEY}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert re.search(r"API Links:\s+2 covered / 2 selected", output), output[-3000:]  # predict -> feedback, both
    assert "No issues found" in output or "passed" in output, output[-3000:]
