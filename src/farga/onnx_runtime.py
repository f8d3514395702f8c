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
            labels=json.loads(meta["farga.labels"]),
            preprocessing=json.loads(meta.get("farga.preprocessing", "{}")),
            provenance=json.loads(meta.get("farga.provenance", "{}")),
            path=path,
        )

    def run(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        names = [o.name for o in self.session.get_outputs()]
        input_name = self.session.get_inputs()[0].name
        return dict(zip(names, self.session.run(None, {input_name: inputs}), strict=True))
