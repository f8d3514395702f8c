"""Load from outside the service: ``wrk`` on loopback, and the percentiles every benchmark reports.

wrk is a C load generator with one thread: on two cores a second would take CPU from the server
under test, and a Python client would take more than the services answer. Components' benchmarks,
the scale-out benchmark and the soak use these.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.array(samples_s) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def wrk(url: str, body: bytes, content_type: str, connections: int, seconds: int, workdir: Path) -> dict[str, Any]:
    body_file = workdir / f"body-{abs(hash(body))}.bin"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{content_type}"\n'
    )
    # one load thread: on two cores a second one takes CPU from the server under test (wrk drives
    # far more than these services answer from one thread)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            raise RuntimeError(f"could not read the {label}th percentile from wrk:\n{out}")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "rps": rps,
        "non_2xx": int(non2xx[1]) if non2xx else 0,
        "socket_errors": errors[0] if errors else "",
    }
