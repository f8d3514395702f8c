"""The fillmask network as ONNX (inputs ``input_ids`` (B, T), ``mask_positions`` (B, M)), its
MatMul/Gemm weights int8 for serving, the float graph kept beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import onnx
import torch

from farga.fillmask.model import FillMaskModel
from farga.onnx_runtime import set_metadata

OPSET = 17


class Exported(torch.nn.Module):
    def __init__(self, model: FillMaskModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, mask_positions: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(input_ids, mask_positions)
        return out


def export(
    model: FillMaskModel, out: Path, metadata: dict[str, Any], quantize: Literal["int8", "none"]
) -> dict[str, Path]:
    """ONNX inputs ``input_ids`` (B, T) and ``mask_positions`` (B, M)."""
    model = model.eval().materialise()
    path = out / ("model_fp32.onnx" if quantize == "int8" else "model.onnx")
    inputs = {
        "input_ids": torch.full((1, 8), 5, dtype=torch.long),
        "mask_positions": torch.zeros((1, 1), dtype=torch.long),
    }
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "mask_positions": {0: "batch", 1: "masks"}}
    torch.onnx.export(
        Exported(model),
        tuple(inputs.values()),
        str(path),
        input_names=list(inputs),
        output_names=["log_probs"],
        dynamic_axes={**axes, "log_probs": {0: "batch", 1: "masks"}},
        opset_version=OPSET,
        dynamo=False,
    )
    set_metadata(path, metadata)
    onnx.checker.check_model(str(path))
    if quantize == "none":
        return {"model": path}
    from farga.quantize import quantize_weights_int8

    served = quantize_weights_int8(path, out / "model.onnx", ("MatMul", "Gemm"))
    return {"model": served, "float_model": path}
