"""The feedback loop's real processes: the service, the drift monitor and a Prometheus on 127.0.0.1 that
evaluates the project's own alert rules (tests/e2e/test_feedback_loop.py)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from support import REPO, venv_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Processes:
    def __init__(self, logs: Path):
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str, cwd: Path, env: dict[str, str]) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.running.append((name, subprocess.Popen(args, cwd=cwd, env=venv_env(env), stdout=log, stderr=log)))

    def stop(self) -> None:
        for _, proc in reversed(self.running):
            proc.terminate()
        for _, proc in self.running:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def tail(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{(self.logs / f'{name}.log').read_text(errors='replace')[-2000:]}"
            for name, _ in self.running
        )


class Prometheus:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"

    def value(self, query: str) -> float | None:
        result = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=5).json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def alert(self, name: str) -> list[dict[str, Any]]:
        alerts = httpx.get(f"{self.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == name]


def prometheus_config(tmp: Path, api: int, monitor: int) -> Path:
    """The project's rule file, its drift alert's 30-minute ``for`` cut to seconds; scrapes every second."""
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "FargaDriftDetected":
                rule["for"] = "3s"
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "scrape_configs": [
            {"job_name": "farga", "static_configs": [{"targets": [f"127.0.0.1:{api}"]}]},
            {"job_name": "farga-monitor", "static_configs": [{"targets": [f"127.0.0.1:{monitor}"]}]},
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path
