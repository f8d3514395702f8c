"""Starting a real `farga serve` process on 127.0.0.1, and handling it as an operator (or a fault)
would: used by tests, the fault suite, the benchmark and the soak run."""

from __future__ import annotations

import contextlib
import os
import signal
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


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)


class ServerProcess:
    """One ``farga serve`` (or ``command``, given ``{port}``) on a fixed port: started, stopped,
    killed and started again on the same port and data, as a fault test needs."""

    def __init__(
        self,
        root: Path,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        ready_path: str = "/readyz",
        port: int | None = None,
    ):
        self.root, self.workers, self.ready_path = root, workers, ready_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # every load here comes from one address, 127.0.0.1: the per-client rate limits are off unless
        # the caller sets them (the fault suite does, to test them)
        quiet = {"FARGA_RELOAD_INTERVAL_S": "0", "FARGA_RATE_PREDICT_PER_S": "0", "FARGA_RATE_FEEDBACK_PER_S": "0"}
        self.env = {**os.environ, "FARGA_ROOT": str(root), **quiet, **(env or {})}
        for inherited in ("PROMETHEUS_MULTIPROC_DIR", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            self.env.pop(inherited, None)  # the server reads its own settings, not this process's state
        self.args = (
            [a.format(port=self.port) for a in command]
            if command
            else [sys.executable, "-m", "farga", "serve", "--port", str(self.port), "--workers", str(workers)]
        )
        self.log_path = Path(tempfile.gettempdir()) / f"farga-serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0, wait_ready: bool = True) -> ServerProcess:
        with self.log_path.open("a") as log:
            # its own process group: a kill of "the whole server" reaches every worker
            self.proc = subprocess.Popen(
                self.args, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text()[-chars:] if self.log_path.exists() else ""

    def ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}{self.ready_path}", timeout=2).status_code == 200
        return False

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds until the server answered ready."""
        start = time.monotonic()
        while not self.ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"farga serve exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"farga serve not ready in {timeout}s: {self.log_tail()}")
            time.sleep(0.1)
        return time.monotonic() - start

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        """The worker processes (the supervisor's children); the server itself when it has one worker."""
        if self.workers == 1:
            return [self.pid]
        children = [int(c) for c in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        # the supervisor's other child is multiprocessing's resource tracker
        return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]

    def kill_worker(self, index: int = 0) -> int:
        pid = self.worker_pids()[index]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill(self) -> None:
        """SIGKILL to every process of the server: nothing runs its shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=20)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, as an orchestrator stops a pod; returns the exit code."""
        assert self.proc is not None, "not started"
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.terminate(timeout=20)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # a worker orphaned by a killed supervisor


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
    server = ServerProcess(root, workers=workers, env=env, command=command, ready_path=ready_path)
    try:
        server.start(timeout=timeout)
        yield server.url
    finally:
        if server.proc is not None:
            server.stop()
