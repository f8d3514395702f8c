"""Loading and running an exported model with ONNX Runtime (no torch): shared by evaluation and serving."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

# Which graph of an exported model serves: the int8 file (model.onnx) or the float one it was
# quantised from. Which is faster depends on the CPU (`farga bench` measures both); int8 is the default.
Precision = Literal["int8", "float"]
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

    @classmethod
    def load(cls, model_dir: Path, threads: int = 1, precision: Precision = "int8") -> OnnxModel:
        """``model_dir`` holds ``model.onnx`` (an MLflow model directory does too), or is a graph file."""
        import onnxruntime as ort

        path = graph_file(model_dir, precision) if model_dir.is_dir() else model_dir
        if not path.exists():
            raise FileNotFoundError(f"no ONNX model at {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
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
        )

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One array for a single-input graph, or a feed per input name."""
        names = [o.name for o in self.session.get_outputs()]
        feeds = inputs if isinstance(inputs, dict) else {self.session.get_inputs()[0].name: inputs}
        return dict(zip(names, self.session.run(None, feeds), strict=True))


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
