"""Nothing phones home: ONNX Runtime (1.32) resolves Microsoft's event collector from a background
thread of any process that creates a session (outside CI), unless ORT_DISABLE_TELEMETRY is set, which
every farga process sets (farga.config.QUIET_ENVIRONMENT). Watched with strace: the DNS queries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import tool

pytestmark = pytest.mark.code

CI_MARKERS = ("CI", "GITHUB_ACTIONS", "TF_BUILD")

SESSION = """
import os, sys, time
if sys.argv[1] == "farga":
    import farga.cli  # noqa: F401 - what every farga command imports first
else:
    os.environ.pop("ORT_DISABLE_TELEMETRY", None)
import numpy as np, onnx, onnxruntime as ort
from onnx import helper, TensorProto
x, y = (helper.make_tensor_value_info(name, TensorProto.FLOAT, [1]) for name in "xy")
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
session.run(None, {"x": np.ones(1, np.float32)})
time.sleep(300)  # the uploader's first lookup comes some seconds after the first session; the test ends it
"""


def test_onnx_runtime_sends_nothing_from_a_farga_process(tmp_path: Path):
    strace = tool("strace", "apt-get install strace (make system-deps)")
    # ONNX Runtime keeps quiet where it sees a CI (CI, GITHUB_ACTIONS, TF_BUILD): both processes run as
    # on a user's machine, which is where it would send
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", *CI_MARKERS)}
    runs = {
        who: subprocess.Popen(
            [strace, "-f", "-e", "trace=sendto,connect", "-o", str(tmp_path / who), sys.executable, "-c", SESSION, who],
            env=env,
            start_new_session=True,  # strace and the traced process: one group, ended together
        )
        for who in ("farga", "plain")
    }
    lookups = dict.fromkeys(runs, 0)
    try:
        # under load the uploader may take longer: watch until the control has looked the collector up
        # (at most 2 minutes), then give the farga process as long again as the control needed
        started = time.monotonic()
        while lookups["plain"] == 0 and time.monotonic() - started < 120:
            time.sleep(0.5)
            lookups = count(tmp_path, runs)
        time.sleep(min(time.monotonic() - started, 30))
        lookups = count(tmp_path, runs)
    finally:
        for proc in runs.values():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert lookups["plain"] > 0, "the control saw no lookup in 2 minutes: the check would see nothing either"
    assert lookups["farga"] == 0, lookups


def count(folder: Path, runs: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    """DNS queries for the collector in each process's strace log so far."""
    logs = {who: folder / who for who in runs}
    return {
        who: log.read_text(errors="replace").count("events\\4data") if log.exists() else 0 for who, log in logs.items()
    }
