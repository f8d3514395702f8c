"""Helpers of the fault suite: the figures it reports, the check of acknowledged feedback and
predictions against the store, and a PostgreSQL server of a test's own."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from farga.loadgen import Traffic

RECORDS: list[dict[str, Any]] = []


def write_records() -> None:
    out = os.environ.get("FARGA_RELIABILITY_REPORT")
    if out and RECORDS:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(RECORDS, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def record(case: str, answered: str, lost: str, **figures: Any) -> None:
    """One row of docs/reliability.md: the fault or hostile case, what the service answered, what was lost."""
    RECORDS.append({"case": case, "answered": answered, "lost": lost, "figures": figures})


def lost_feedback(traffic: Traffic, database_url: str) -> list[str]:
    """Acknowledged feedback missing from the store, or stored with another label."""
    assert traffic.acknowledged, "no feedback was acknowledged: a check of none would pass whatever the store did"
    engine = create_engine(database_url)
    with engine.connect() as conn:
        query = text("SELECT id, feedback_label FROM predictions WHERE feedback_label IS NOT NULL")
        stored = {row[0]: row[1] for row in conn.execute(query)}
    engine.dispose()
    return [pid for pid, (_, label) in traffic.acknowledged.items() if stored.get(pid) != label]


def lost_predictions(answered: Traffic | list[str], database_url: str) -> int:
    """Predictions answered 200 (a traffic's, or these ids) whose log row never reached the store."""
    wanted = [pid for _, pid in answered.predicted] if isinstance(answered, Traffic) else answered
    assert wanted, "no prediction was answered: a check of none would pass whatever the store did"
    engine = create_engine(database_url)
    with engine.connect() as conn:
        ids = {row[0] for row in conn.execute(text("SELECT id FROM predictions"))}
    engine.dispose()
    return sum(pid not in ids for pid in wanted)


def sqlite_url(root: Path) -> str:
    return f"sqlite:///{(root / 'feedback.db').resolve()}"


class Postgres:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, its own port): it is
    stopped and started, so it is never the machine's shared one."""

    def __init__(self, bin_dir: Path, data: Path, port: int, run_as: list[str]):
        self.bin, self.data, self.port, self.run_as = bin_dir, data, port, run_as
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args],
            check=True,
            capture_output=True,
            timeout=90,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")


def postgres_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None
