"""The fault suite's fixtures: a served project of its own per test, a PostgreSQL of its own, the
check of acknowledged feedback against the store, and the figures it reports.

Every fault here is real: real `farga serve` processes on 127.0.0.1, real signals, a real
PostgreSQL server stopped and started, a real filesystem filled. With ``FARGA_RELIABILITY_REPORT``
set to a file, each test also records what was tried, what the service answered and what was
lost there (`make reliability` writes reports/reliability/faults.json and docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import Postgres, postgres_binaries, write_records

from farga.serving.process import free_port


@pytest.fixture(scope="session", autouse=True)
def reliability_report() -> Iterator[None]:
    yield
    write_records()


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[postgres]')")
    bin_dir = postgres_binaries()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have PostgreSQL's server binaries (initdb) to start a server of the test's own")
        pytest.skip("PostgreSQL's initdb is not installed: apt-get install postgresql")
    # initdb refuses to run as root: as root, the server runs as the postgres system user
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="farga-pg-"))
    data = base / "data"
    if run_as:
        shutil.chown(base, "postgres")
    subprocess.run(
        [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = Postgres(bin_dir, data, free_port(), run_as)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
