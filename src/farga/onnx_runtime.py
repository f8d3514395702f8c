"""Loading and running an exported model with ONNX Runtime (no torch): shared by evaluation and serving."""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger("farga.serving")

# Which graph of an exported model serves: the int8 file (model.onnx) or the float one it was
# quantised from. Which is faster depends on the CPU: int8 pays where the CPU has int8 dot products
# (VNNI, AMX) and may not elsewhere. "auto" (the service's default) times both where the model is
# loaded and serves the faster (``faster_precision``).
Precision = Literal["int8", "float"]
PrecisionChoice = Literal["auto", "int8", "float"]
TIMED_RUNS = 40  # per graph, taking turns, after a few unmeasured ones (about 50 ms for both symbols graphs)
FLOAT_MARGIN = 0.9  # the float graph serves only where it takes at most this share of int8's median time
SERVED_FILE = "model.onnx"
FLOAT_FILE = "model_fp32.onnx"
QUANTIZED_KEY = "farga.quantization"  # the metadata entry an int8 graph carries (farga.quantize writes it)


@dataclass
class OnnxModel:
    session: Any
    labels: list[dict[str, Any]]
    preprocessing: dict[str, Any]
    provenance: dict[str, Any]
    path: Path
    calibration: dict[str, Any]  # the "not sure" threshold fitted on validation data ({} for older models)
    precision: Precision = "int8"  # the graph that answers: quantised, or float

    @classmethod
    def load(cls, model_dir: Path, threads: int = 1, precision: PrecisionChoice = "int8") -> OnnxModel:
        """``model_dir`` holds ``model.onnx`` (an MLflow model directory does too), or is a graph file."""
        if precision == "auto":
            precision = faster_precision(model_dir, threads) if model_dir.is_dir() else "int8"
        path = graph_file(model_dir, precision) if model_dir.is_dir() else model_dir
        if not path.exists():
            raise FileNotFoundError(f"no ONNX model at {path}")
        session = new_session(path, threads)
        meta = session.get_modelmeta().custom_metadata_map
        if precision == "float" and QUANTIZED_KEY in meta:
            raise FileNotFoundError(f"{path} is int8 and has no float twin ({FLOAT_FILE}): it cannot serve float")
        return cls(
            session=session,
            labels=json.loads(meta.get("farga.labels", "[]")),
            preprocessing=json.loads(meta.get("farga.preprocessing", "{}")),
            provenance=json.loads(meta.get("farga.provenance", "{}")),
            path=path,
            calibration=json.loads(meta.get("farga.calibration", "{}")),
            precision="int8" if QUANTIZED_KEY in meta else "float",
        )

    def __post_init__(self) -> None:
        # asked of the session once: each ask builds Python objects, and run() is on every request
        self._outputs = [o.name for o in self.session.get_outputs()]
        self._first_input = self.session.get_inputs()[0].name

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One array for a single-input graph, or a feed per input name."""
        feeds = inputs if isinstance(inputs, dict) else {self._first_input: inputs}
        return dict(zip(self._outputs, self.session.run(self._outputs, feeds), strict=True))


def new_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def sample_feed(session: Any, length: int = 16) -> dict[str, np.ndarray]:
    """Zeros of each input's declared type and shape, a free dimension 1 first (the batch) and
    ``length`` after it (a text's tokens): what one request costs the graph, whatever it holds."""
    feed = {}
    for node in session.get_inputs():
        shape = [d if isinstance(d, int) else (1 if i == 0 else length) for i, d in enumerate(node.shape)]
        dtype = np.int64 if "int64" in node.type else np.int32 if "int32" in node.type else np.float32
        feed[node.name] = np.zeros(shape, dtype=dtype)
    return feed


def faster_precision(model_dir: Path, threads: int, runs: int = TIMED_RUNS) -> Precision:
    """Which graph of ``model_dir`` answers one request sooner here, timed the two taking turns (so
    that whatever else the machine does falls on both); int8 unless float is clearly faster. A model
    with one graph, or graphs that cannot be timed on a sample feed, serves as exported."""
    if not has_float_twin(model_dir):
        return "int8"
    graphs: tuple[Precision, ...] = ("int8", "float")
    sessions = {p: new_session(graph_file(model_dir, p), threads) for p in graphs}
    times: dict[Precision, list[float]] = {"int8": [], "float": []}
    try:
        feed = sample_feed(sessions["int8"])
        for i in range(runs + 5):
            for p, session in sessions.items():
                started = time.perf_counter()
                session.run(None, feed)
                if i >= 5:
                    times[p].append(time.perf_counter() - started)
    except Exception as exc:  # a graph whose inputs zeros do not satisfy: serve what was exported
        log.warning("could not time the graphs of %s (%s); serving int8", model_dir, exc)
        return "int8"
    int8, fp = statistics.median(times["int8"]), statistics.median(times["float"])
    served = chosen(int8, fp)
    log.info("graph timing for %s: int8 %.3f ms, float %.3f ms: serving %s", model_dir, 1e3 * int8, 1e3 * fp, served)
    return served


def chosen(int8_s: float, float_s: float) -> Precision:
    """int8 unless the float graph's time is at most FLOAT_MARGIN of int8's (a near tie keeps the
    default rather than follow noise from one load to the next)."""
    return "float" if float_s <= FLOAT_MARGIN * int8_s else "int8"


def graph_file(model_dir: Path, precision: Precision) -> Path:
    """The graph of ``model_dir`` that serves at ``precision``: for float, the float twin of an int8
    export, or model.onnx itself (``load`` refuses it if it turns out to be int8)."""
    if precision == "float":
        for candidate in (model_dir / FLOAT_FILE, model_dir / "extra_files" / FLOAT_FILE):
            if candidate.exists():
                return candidate
    return model_dir / SERVED_FILE


def has_float_twin(model_dir: Path) -> bool:
    """Whether ``model_dir``'s model.onnx is an int8 graph shipped with the float graph it came from."""
    return graph_file(model_dir, "float") != model_dir / SERVED_FILE


def set_metadata(path: Path, values: dict[str, Any]) -> None:
    """Add or replace ``farga.*`` metadata entries (JSON) of an ONNX file in place."""
    import onnx

    proto = onnx.load(str(path))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    for key, value in [*kept, *((k, json.dumps(v, sort_keys=True)) for k, v in values.items())]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def model_file(model_dir: Path, name: str) -> Path:
    """A sidecar file of an exported model: beside model.onnx, or under extra_files/ in an MLflow model."""
    for candidate in (model_dir / name, model_dir / "extra_files" / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{model_dir} has no {name} (a model exported before it was added? retrain it)")
