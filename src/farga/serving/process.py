"""Starting a real `farga serve` process on 127.0.0.1: used by tests and by the benchmark."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    root: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    command: list[str] | None = None,
    ready_path: str = "/readyz",
) -> Iterator[str]:
    """Start ``farga serve`` (or ``command``, given ``{port}``) and yield its URL once it is ready."""
    port = free_port()
    # every load here comes from one address, 127.0.0.1: the per-client rate limits are off unless
    # the caller sets them (the fault suite does, to test them)
    quiet = {"FARGA_RELOAD_INTERVAL_S": "0", "FARGA_RATE_PREDICT_PER_S": "0", "FARGA_RATE_FEEDBACK_PER_S": "0"}
    full_env = {**os.environ, "FARGA_ROOT": str(root), **quiet, **(env or {})}
    for inherited in ("PROMETHEUS_MULTIPROC_DIR", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        full_env.pop(inherited, None)  # the server reads its own settings, not this process's state
    log_path = Path(tempfile.gettempdir()) / f"farga-serve-{port}.log"
    log = log_path.open("w")
    args = (
        [a.format(port=port) for a in command]
        if command
        else [sys.executable, "-m", "farga", "serve", "--port", str(port), "--workers", str(workers)]
    )
    proc = subprocess.Popen(args, cwd=root, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"farga serve exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}{ready_path}", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"farga serve not ready in {timeout}s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
