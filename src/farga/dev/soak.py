"""The soak run: the service under steady load for minutes, to see what a short benchmark cannot —
memory that creeps, latency that drifts, errors that appear only after a while.

First the capacity is measured (clients sending as fast as answers come, both components, feedback
mixed in), then the same traffic is paced at a share of it for the run. Every ``sample_s`` the
resident memory of each worker is read; every minute, the latency percentiles and the errors.
A benchmark, not a test: ``farga dev soak`` prints the figures and writes them to a JSON report.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from farga.loadgen import Answer, Traffic
from farga.serving.process import ServerProcess, rss_mb


@dataclass
class Minute:
    minute: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # answers that are not 2xx, and requests without an answer


@dataclass
class SoakReport:
    workers: int
    clients: int
    capacity_rps: float
    target_rps: float
    minutes: list[Minute] = field(default_factory=list)
    rss_mb: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # worker -> (seconds, MiB)

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.minutes)

    def rss_growth_mb(self) -> dict[str, float]:
        return {w: samples[-1][1] - samples[0][1] for w, samples in self.rss_mb.items() if len(samples) > 1}

    def p99_drift(self) -> float:
        return self.minutes[-1].p99_ms / self.minutes[0].p99_ms

    def checks(self) -> list[tuple[str, str, bool]]:
        """The hardening issue's bar for one soak run, checked against its figures."""
        growth = self.rss_growth_mb()
        worst = max(growth.values(), default=0.0)
        return [
            ("RSS growth per worker < 50 MB", f"{worst:+.1f} MB (worst worker)", worst < 50),
            ("p99 in the last minute <= 1.5x the first", f"{self.p99_drift():.2f}x", self.p99_drift() <= 1.5),
            ("0 errors", str(self.errors), self.errors == 0),
        ]

    def to_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "rss_growth_mb": self.rss_growth_mb(),
            "checks": [{"check": c, "measured": m, "met": ok} for c, m, ok in self.checks()],
        }


def minute_of(answers: list[Answer], minute: int) -> Minute:
    """Minute ``minute`` (from 0) of the traffic's answers, timed from its start."""
    inside = [a for a in answers if 60 * minute <= a.at < 60 * (minute + 1)]
    ms = np.array([a.latency_s * 1000 for a in inside if a.status]) if inside else np.array([0.0])
    return Minute(
        minute=minute + 1,
        requests=len(inside),
        rps=len(inside) / 60,
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        errors=sum(not 200 <= a.status < 300 for a in inside),
    )


def run(
    root: Path,
    *,
    minutes: float,
    workers: int,
    clients: int,
    load: float,
    capacity_s: float = 20,
    sample_s: float = 10,
    progress: Callable[[str], None] = print,
) -> SoakReport:
    with tempfile.TemporaryDirectory() as tmp:
        # the soak's own log store: the project's feedback.db is not filled with test traffic
        env = {"FARGA_DATABASE_URL": f"sqlite:///{Path(tmp) / 'soak.db'}"}
        server = ServerProcess(root, workers=workers, env=env).start()
        try:
            probe = Traffic(server.url, clients=clients).start()
            time.sleep(capacity_s)
            probe.stop()
            capacity = sum(200 <= a.status < 300 for a in probe.answers) / capacity_s
            report = SoakReport(workers, clients, capacity, load * capacity)
            progress(f"capacity {capacity:.0f} requests/s with {clients} clients; soaking at {report.target_rps:.0f}/s")
            traffic = Traffic(server.url, clients=clients, rate=report.target_rps).start()
            started, done = time.monotonic(), 0
            while (elapsed := time.monotonic() - started) < minutes * 60:
                for i, pid in enumerate(server.worker_pids()):
                    report.rss_mb.setdefault(f"worker {i + 1}", []).append((round(elapsed, 1), round(rss_mb(pid), 1)))
                if int(elapsed // 60) > done:
                    row = minute_of(traffic.answers, done)
                    report.minutes.append(row)
                    rss = ", ".join(f"{s[-1][1]:.0f}" for s in report.rss_mb.values())
                    progress(
                        f"minute {row.minute}: {row.rps:.0f} requests/s, p50 {row.p50_ms:.1f} ms, "
                        f"p99 {row.p99_ms:.1f} ms, {row.errors} errors; RSS {rss} MB"
                    )
                    done += 1
                time.sleep(sample_s)
            traffic.stop()
            for minute in range(done, int(minutes)):
                report.minutes.append(minute_of(traffic.answers, minute))
        finally:
            server.stop()
    return report
