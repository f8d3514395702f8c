"""Which int8 format holds on every CPU: the trained float graph quantised three ways, scored on the
fold-1 test drawings with this CPU's ONNX Runtime kernels and with its AVX2-only ones.

ONNX Runtime picks its kernels from CPUID and has no switch to force the AVX2 path, so ``--avx2``
runs the int8 graphs again under QEMU's user-mode emulation of a Haswell CPU (AVX2 and FMA, no
AVX-512, no int8 dot product: as many AMD and older Intel processors), about a hundred times slower.
Run from a checkout whose symbols pipeline has run (models/symbols/model_fp32.onnx, data/prepared/symbols):

    .venv/bin/python tools/int8_formats.py [--avx2] [--n 16608]

The formats, all static QDQ with per-channel weights and uint8 activations calibrated on the
training drawings the pipeline uses: int8 weights at full range (served until 2026-12-07), int8
weights in 7 bits (served since: ``farga.quantize``), uint8 weights. Prints each format's top-1 on
each kernel set, the share of answers the two kernel sets give alike, and the batch time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("int8 weights, full range", "int8 weights, 7 bits (served)", "uint8 weights")


def quantise(float_graph: Path, out: Path) -> list[Path]:
    """The float graph in each format, calibrated as the training stage calibrates it."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from farga import components
    from farga.quantize import quantize_int8
    from farga.symbols.prepare import load_split
    from farga.symbols.preprocess import to_model_input
    from farga.symbols.train import calibration_images

    ctx = components.context("symbols")
    images = calibration_images(load_split(ctx.paths.prepared, "train")[0], ctx.config.train)
    assert images is not None, "train.export.quantize is none: nothing to compare"

    def feeds() -> list[dict[str, np.ndarray]]:
        return [{"image": to_model_input(images[i : i + 64])} for i in range(0, len(images), 64)]

    class Feeds(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.left = iter(feeds())

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.left, None)

    prepared = out / "prepared.onnx"
    quant_pre_process(str(float_graph), str(prepared))
    paths = [out / "int8_full.onnx", out / "int8_7bit.onnx", out / "uint8.onnx"]
    for path, weights, reduce_range in ((paths[0], QuantType.QInt8, False), (paths[2], QuantType.QUInt8, False)):
        quantize_static(
            str(prepared),
            str(path),
            Feeds(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv", "MatMul", "Gemm"],
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=weights,
        )
    quantize_int8(float_graph, paths[1], feeds())
    return paths


def predict(graphs: list[Path], n: int) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Each graph's top-1 output index for the first ``n`` test drawings (seeded order), the truth as
    output indices, and each graph's time."""
    import onnxruntime as ort

    from farga.symbols.prepare import load_split
    from farga.symbols.preprocess import to_model_input

    images, labels, _ = load_split(ROOT / "data/prepared/symbols", "test")
    pick = np.random.default_rng(0).permutation(len(images))[:n]
    images, labels = images[pick], labels[pick]
    answers, seconds = [], []
    for graph in graphs:
        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        started = time.perf_counter()
        out = [
            session.run(["probabilities"], {"image": to_model_input(images[i : i + 256])})[0] for i in range(0, n, 256)
        ]
        seconds.append(time.perf_counter() - started)
        answers.append(np.concatenate(out).argmax(1))
    return np.stack(answers), labels, seconds  # a prepared label is the model's output index


def on_avx2(graphs: list[Path], n: int, out: Path) -> tuple[np.ndarray, list[float]]:
    """``predict`` in a child under QEMU's Haswell: ONNX Runtime's AVX2-only kernels."""
    cmd = ["qemu-x86_64", "-cpu", "Haswell-v4", sys.executable, __file__, "--child", str(out), "--n", str(n)]
    subprocess.run([*cmd, *map(str, graphs)], check=True, stderr=subprocess.DEVNULL)
    with np.load(out) as saved:
        return saved["answers"], saved["seconds"].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16608, help="test drawings scored (fold 1 has 16,608)")
    parser.add_argument("--avx2", action="store_true", help="also on the AVX2-only kernels (QEMU; slow)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("graphs", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        answers, _, seconds = predict(args.graphs, args.n)
        np.savez(args.child, answers=answers, seconds=np.array(seconds))
        return
    from farga import cpu

    with tempfile.TemporaryDirectory() as tmp:
        float_graph = ROOT / "models/symbols/model_fp32.onnx"
        graphs = quantise(float_graph, Path(tmp))
        answers, truth, seconds = predict([float_graph, *graphs], args.n)
        print(f"{args.n:,} fold-1 test drawings; native kernels on {cpu.describe().summary()}")
        print(
            f"| graph | top-1, native | batch time, native |{' top-1, AVX2 only | same answer on both |' * args.avx2}"
        )
        print(f"|---|---|---|{'---|---|' * args.avx2}")
        emulated = on_avx2(graphs, args.n, Path(tmp) / "avx2.npz") if args.avx2 else None
        for i, name in enumerate(("float", *FORMATS)):
            row = f"| {name} | {np.mean(answers[i] == truth):.2%} | {seconds[i]:.1f} s |"
            if emulated is not None:
                if i == 0:
                    row += " (not emulated) | |"
                else:
                    avx2 = emulated[0][i - 1]
                    row += f" {np.mean(avx2 == truth):.2%} | {np.mean(avx2 == answers[i]):.2%} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
