"""Post-training static int8 quantisation of an exported ONNX model (ONNX Runtime, QDQ format).

Why: at batch 1 on a CPU with int8 dot products (AVX-512 VNNI, AVX-VNNI, ARM dot-product) the
quantised graph runs about twice as fast as the float one. The cost is measured, not assumed: the
evaluation stage scores the quantised file (the one that is served) and reports the float model's
accuracy beside it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import onnx

# What the metadata says about how a served file was made (read by cards and the benchmark).
METADATA_KEY = "farga.quantization"


def quantize_int8(
    src: Path,
    dst: Path,
    calibration: Iterable[dict[str, np.ndarray]],
    op_types: tuple[str, ...] = ("Conv", "MatMul", "Gemm"),
) -> Path:
    """Write an int8 copy of ``src`` to ``dst``: per-channel int8 weights, uint8 activations whose
    ranges come from ``calibration`` (feeds of representative inputs). The metadata is carried over."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Feeds(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.feeds: Iterator[dict[str, np.ndarray]] = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared))
        quantize_static(
            str(prepared),
            str(dst),
            Feeds(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    original, quantised = onnx.load(str(src)), onnx.load(str(dst))
    del quantised.metadata_props[:]
    for prop in original.metadata_props:
        quantised.metadata_props.add(key=prop.key, value=prop.value)
    quantised.metadata_props.add(key=METADATA_KEY, value="int8 static QDQ, per-channel weights, uint8 activations")
    onnx.checker.check_model(quantised)
    onnx.save(quantised, str(dst))
    return dst


def quantize_weights_int8(src: Path, dst: Path, op_types: tuple[str, ...] = ("MatMul", "Gemm")) -> Path:
    """Dynamic int8 quantisation: int8 weights, activations quantised on the fly (no calibration
    data). Suits transformers, whose activation ranges vary with the input length."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(op_types), weight_type=QuantType.QInt8)
    quantised = onnx.load(str(dst))
    quantised.metadata_props.add(key=METADATA_KEY, value="int8 dynamic, int8 weights, activations quantised per call")
    onnx.save(quantised, str(dst))
    return dst
