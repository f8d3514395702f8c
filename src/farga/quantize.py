"""Post-training int8 quantisation of an exported ONNX model (ONNX Runtime), exact on every x86 CPU.

Why int8: at batch 1 on a CPU with int8 dot products (AVX-512 VNNI, AVX-VNNI, AMX, ARM dot product)
the quantised graph runs about twice as fast as the float one. The cost is measured, not assumed:
the evaluation stage scores the served file beside its float twin on the machine that runs it, and
the registry gate refuses a file that loses more than its tolerance.

Why 7-bit weights: where there is no int8 dot-product instruction (AVX2 alone: many AMD and older
Intel processors) ONNX Runtime multiplies uint8 activations by int8 weights with ``vpmaddubsw``,
which adds each adjacent pair of products into a signed 16-bit lane and saturates there:
2 x 255 x 127 = 64,770 does not fit in 32,767. With weights in [-64, 64] a pair is at most
2 x 255 x 64 = 32,640, so the same file computes the same sums on every CPU (ONNX Runtime's
``reduce_range``). Measured in docs/experiments/2026-12-07-int8-on-every-cpu.md.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from farga.onnx_runtime import QUANTIZED_KEY as METADATA_KEY  # how a served file was made (cards, benchmark)

# The largest |int8 weight| whose uint8 x int8 pair sums fit a 16-bit lane (vpmaddubsw, AVX2).
SATURATION_FREE_WEIGHT = 64


def quantize_int8(
    src: Path,
    dst: Path,
    calibration: Iterable[dict[str, np.ndarray]],
    op_types: tuple[str, ...] = ("Conv", "MatMul", "Gemm"),
) -> Path:
    """Write an int8 copy of ``src`` to ``dst``: per-channel 7-bit int8 weights, uint8 activations whose
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
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    original, quantised = onnx.load(str(src)), onnx.load(str(dst))
    del quantised.metadata_props[:]
    for prop in original.metadata_props:
        quantised.metadata_props.add(key=prop.key, value=prop.value)
    described = "int8 static QDQ, per-channel 7-bit weights, uint8 activations"
    quantised.metadata_props.add(key=METADATA_KEY, value=described)
    onnx.checker.check_model(quantised)
    onnx.save(quantised, str(dst))
    return dst


def quantize_weights_int8(src: Path, dst: Path, op_types: tuple[str, ...] = ("MatMul", "Gemm")) -> Path:
    """Dynamic int8 quantisation: 7-bit int8 weights, activations quantised on the fly (no calibration
    data). Suits transformers, whose activation ranges vary with the input length."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src), str(dst), op_types_to_quantize=list(op_types), weight_type=QuantType.QInt8, reduce_range=True
    )
    quantised = onnx.load(str(dst))
    described = "int8 dynamic, 7-bit int8 weights, activations quantised per call"
    quantised.metadata_props.add(key=METADATA_KEY, value=described)
    onnx.save(quantised, str(dst))
    return dst


def largest_int8_weight(path: Path) -> int:
    """The largest |value| among the int8 weights of a quantised graph (0 for a float one): at most
    ``SATURATION_FREE_WEIGHT`` means no uint8 x int8 pair sum can saturate on any CPU."""
    proto = onnx.load(str(path))
    values = [numpy_helper.to_array(t) for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    return max((int(np.abs(v.astype(np.int16)).max()) for v in values if v.size), default=0)
