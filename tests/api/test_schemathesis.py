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
from farga import components
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


def test_the_api_honours_its_schema(served: Path, tmp_path: Path):
    schemathesis = Path(sys.executable).parent / "schemathesis"
    # chains long and many enough to follow every component's predict -> feedback link
    config = tmp_path / "schemathesis.toml"
    config.write_text("[phases.stateful]\nmax-steps = 20\n\n[phases.stateful.generation]\nmax-examples = 120\n")
    with running_server(served, env={"FARGA_API_KEY": ADMIN_KEY}) as url:
        done = subprocess.run(
            [
                str(schemathesis),
                "--config-file",
                str(config),
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
    links = len(components.available())  # each component's predict -> feedback, every one followed
    assert re.search(rf"API Links:\s+{links} covered / {links} selected", output), output[-3000:]
    assert "No issues found" in output or "passed" in output, output[-3000:]
