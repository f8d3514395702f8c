"""The naive baseline of the serving benchmark: a model served the way tutorial services do it.

A plain FastAPI endpoint takes an upload, preprocesses it with PIL per request (open, grey, resize
to 32x32), and runs the model in PyTorch eager mode. The model is the very same: the exported
ONNX graph's weights, executed op by op with ``torch.nn.functional`` (batch-norm is already folded
into the convolutions there, so this is the trained network exactly).

Run: ``FARGA_BASELINE_MODEL=models/symbols/model.onnx uvicorn farga.symbols.bench_baseline:app``
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from fastapi import FastAPI, File, UploadFile
from onnx import numpy_helper
from PIL import Image


class EagerOnnx(torch.nn.Module):
    """Executes a simple feed-forward ONNX graph (Conv/Relu/MaxPool/Flatten/MatMul/Gemm/...) in torch."""

    def __init__(self, path: str):
        super().__init__()
        proto = onnx.load(path)
        self.graph = proto.graph
        self.weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in self.graph.initializer}
        self.labels = json.loads({p.key: p.value for p in proto.metadata_props}["farga.labels"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {**self.weights, self.graph.input[0].name: x}
        for node in self.graph.node:
            a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
            ins = [values[i] for i in node.input if i]
            out: torch.Tensor | tuple[torch.Tensor, ...]
            if node.op_type == "Identity":
                out = ins[0]
            elif node.op_type == "Conv":
                out = F.conv2d(
                    ins[0],
                    ins[1],
                    ins[2] if len(ins) > 2 else None,
                    stride=a.get("strides", [1, 1]),
                    padding=a.get("pads", [0, 0, 0, 0])[:2],
                )
            elif node.op_type == "Relu":
                out = F.relu(ins[0])
            elif node.op_type == "MaxPool":
                out = F.max_pool2d(ins[0], a["kernel_shape"], a.get("strides"))
            elif node.op_type == "Flatten":
                out = torch.flatten(ins[0], a.get("axis", 1))
            elif node.op_type == "MatMul":
                out = ins[0] @ ins[1]
            elif node.op_type == "Gemm":
                w = ins[1].T if a.get("transB") else ins[1]
                out = ins[0] @ w + ins[2]
            elif node.op_type == "BatchNormalization":
                out = F.batch_norm(ins[0], ins[3], ins[4], ins[1], ins[2], eps=a.get("epsilon", 1e-5))
            elif node.op_type == "Softmax":
                out = torch.softmax(ins[0], dim=a.get("axis", -1))
            else:
                out = joining_op(node.op_type, ins, a)
            for name, value in zip(node.output, out if isinstance(out, tuple) else (out,), strict=True):
                values[name] = value
        return values[self.graph.output[0].name]


def joining_op(op: str, ins: list[torch.Tensor], a: dict[str, Any]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The ops that join several networks' outputs in one graph (``symbols.model.Joined``), opset 13+:
    axes and split sizes come as inputs."""
    if op == "Constant":
        return torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
    if op == "Concat":
        return torch.cat(ins, dim=a["axis"])
    if op == "Split":
        return torch.split(ins[0], ins[1].tolist(), dim=a.get("axis", 0))
    if op == "Unsqueeze":
        out = ins[0]
        for axis in sorted(ins[1].tolist()):
            out = out.unsqueeze(axis)
        return out
    if op == "LogSoftmax":
        return torch.log_softmax(ins[0], dim=a.get("axis", -1))
    if op == "Mul":
        return ins[0] * ins[1]
    if op == "ReduceSum":
        return ins[0].sum(dim=ins[1].tolist(), keepdim=bool(a.get("keepdims", 1)))
    raise NotImplementedError(f"the baseline cannot run ONNX op {op}")


app = FastAPI(title="naive baseline")
MODEL: EagerOnnx | None = None


@app.on_event("startup")
def load() -> None:
    global MODEL
    MODEL = EagerOnnx(os.environ["FARGA_BASELINE_MODEL"]).eval()


@app.get("/health")
def health() -> dict[str, bool]:
    return {"ok": MODEL is not None}


@app.post("/predict")
async def predict(image: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008 - the tutorial idiom
    assert MODEL is not None
    img = Image.open(io.BytesIO(await image.read())).convert("L").resize((32, 32))
    x = 1.0 - torch.tensor(np.array(img), dtype=torch.float32) / 255.0
    with torch.no_grad():
        probs = MODEL(x[None, None])[0]
    top = probs.topk(5)
    return {
        "candidates": [
            {"latex": MODEL.labels[int(i)]["latex"], "score": float(s)}
            for s, i in zip(top.values, top.indices, strict=True)
        ]
    }
