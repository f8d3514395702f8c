"""Loading and running an exported model with ONNX Runtime (no torch): shared by evaluation and serving."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class OnnxModel:
    session: Any
    labels: list[dict[str, Any]]
    preprocessing: dict[str, Any]
    provenance: dict[str, Any]
    path: Path
    calibration: dict[str, Any]  # the "not sure" threshold fitted on validation data ({} for older models)

    @classmethod
    def load(cls, model_dir: Path, threads: int = 1) -> OnnxModel:
        """``model_dir`` holds ``model.onnx`` (an MLflow model directory does too)."""
        import onnxruntime as ort

        path = model_dir / "model.onnx" if model_dir.is_dir() else model_dir
        if not path.exists():
            raise FileNotFoundError(f"no ONNX model at {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
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
