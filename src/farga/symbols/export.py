"""Export to ONNX, the serving format: one self-describing file plus readable sidecars.

The graph outputs class probabilities and the penultimate embedding (for drift and neighbour
checks); the label map, preprocessing spec and provenance ride inside the file's metadata too, so
a model file alone is enough to serve it. With calibration images, ``model.onnx`` is the int8
quantised graph (what is served) and ``model_fp32.onnx`` keeps the float one it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from farga.hashing import write_json
from farga.onnx_runtime import set_metadata
from farga.quantize import quantize_int8
from farga.symbols import catalogue
from farga.symbols.model import Joined, SymbolCNN
from farga.symbols.params import Export
from farga.symbols.preprocess import SPEC, to_model_input

OPSET = 17


class Exported(nn.Module):
    def __init__(self, model: SymbolCNN | Joined):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.model.embedding(image)
        return torch.softmax(self.model.head(embedding), dim=1), embedding


def label_map(classes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each output's symbol, as the service describes it. A class learnt from users is described
    here in full (the catalogue the service ships does not know it) and says so (``origin``)."""
    known = catalogue.by_id()
    out = []
    for index, c in enumerate(classes):
        if c.get("origin") == "users":
            fields = ("symbol_id", "latex", "package", "mode", "origin")
            out.append({"index": index, **{k: c[k] for k in fields}, "unicode": None, "family": "misc"})
            continue
        sym = known[int(c["symbol_id"])]
        out.append(
            {
                "index": index,
                "symbol_id": sym.symbol_id,
                "latex": sym.latex,
                "package": sym.package,
                "mode": sym.mode,
                "unicode": sym.unicode,
                "family": sym.family,
            }
        )
    return out


def export_onnx(
    model: SymbolCNN | Joined,
    classes: list[dict[str, Any]],
    out: Path,
    provenance: dict[str, Any],
    calibration: np.ndarray | None = None,
) -> dict[str, Path]:
    """``calibration``: (N, 32, 32) uint8 ink maps from the training split; given, the served file is int8."""
    model = model.eval().to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    path = out / "model.onnx" if calibration is None else out / "model_fp32.onnx"
    torch.onnx.export(
        Exported(model).eval(),
        (torch.zeros(1, 1, 32, 32),),
        str(path),
        input_names=["image"],
        output_names=["probabilities", "embedding"],
        dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}, "embedding": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    labels = label_map(classes)
    set_metadata(path, {"farga.labels": labels, "farga.preprocessing": SPEC, "farga.provenance": provenance})
    onnx.checker.check_model(str(path))
    files = {"model": path}
    if calibration is not None:
        feeds = ({"image": to_model_input(calibration[i : i + 64])} for i in range(0, len(calibration), 64))
        files = {"model": quantize_int8(path, out / "model.onnx", feeds), "float_model": path}
    return {
        **files,
        "labels": write_json(out / "labels.json", labels),
        "preprocessing": write_json(out / "preprocessing.json", SPEC),
    }


def attach_monitoring(
    files: dict[str, Path],
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    cfg: Export,
    seed: int,
) -> dict[str, Any]:
    """What ships with the served model besides the graph: its "not sure" threshold, fitted on
    validation data with the served graph itself (and the float twin's with the float twin, which a
    service may serve instead), and the reference sample drift is measured against.

    ``train`` and ``val`` are (ink maps, symbol ids).
    """
    from farga.calibration import fit_threshold
    from farga.onnx_runtime import OnnxModel
    from farga.symbols.inference import infer, symbol_ids
    from farga.symbols.monitoring import REFERENCE, build_reference

    model_path = files["model"]
    target = cfg.unsure_target_precision
    if "float_model" in files:
        twin = OnnxModel.load(files["float_model"])
        twin_probs = infer(twin, val[0])[0]
        twin_correct = symbol_ids(twin)[twin_probs.argmax(1)] == val[1]
        twin_calibration = fit_threshold(twin_probs.max(1), twin_correct, target)
        set_metadata(files["float_model"], {"farga.calibration": twin_calibration})
    model = OnnxModel.load(model_path)
    probs, embedding = infer(model, val[0])  # once: for the threshold and for the drift reference
    correct = symbol_ids(model)[probs.argmax(1)] == val[1]
    calibration = fit_threshold(probs.max(1), correct, target)
    set_metadata(model_path, {"farga.calibration": calibration})
    reference = build_reference(model, train, (val[0], probs, embedding), cfg.reference_samples, seed)
    np.savez_compressed(model_path.parent / REFERENCE, allow_pickle=False, **reference)
    return {
        "calibration": calibration,
        "files": {
            "reference": model_path.parent / REFERENCE,
            "calibration": write_json(model_path.parent / "calibration.json", calibration),
        },
    }
