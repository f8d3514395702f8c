"""The int8 files: weights that cannot saturate on any CPU, the float twin a service may serve
instead, and the CPU each figure was measured on."""

import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from farga import cpu, onnx_runtime
from farga.onnx_runtime import FLOAT_FILE, OnnxModel, has_float_twin
from farga.quantize import SATURATION_FREE_WEIGHT, largest_int8_weight, quantize_weights_int8
from farga.serving.models import ModelSource
from farga.serving.settings import ServeSettings
from farga.symbols import benchmark
from farga.symbols.export import export_onnx
from farga.symbols.model import CNNConfig, SymbolCNN
from farga.symbols.params import Network

pytestmark = pytest.mark.code

CLASSES = [{"symbol_id": sid} for sid in (31, 32, 33)]  # catalogue ids: \alpha and its neighbours


def exported(out: Path, calibrated: bool = True) -> Path:
    """A small random CNN exported as the pipeline exports it (int8 with its float twin, or float only)."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = SymbolCNN(CNNConfig.from_params(3, Network(channels=[4, 8], convs_per_stage=[1, 1], hidden=8, dropout=0)))
    rng = np.random.default_rng(0)
    calibration = (rng.random((64, 32, 32)) > 0.8).astype(np.uint8) * 255 if calibrated else None
    export_onnx(model, CLASSES, out, {"run_id": "r"}, calibration)
    return out


def test_static_int8_weights_fit_seven_bits(tmp_path: Path):
    """2 x 255 x 64 fits a signed 16-bit lane, 2 x 255 x 127 does not (vpmaddubsw on AVX2)."""
    assert 2 * 255 * SATURATION_FREE_WEIGHT <= 2**15 - 1 < 2 * 255 * 127
    model_dir = exported(tmp_path)
    assert SATURATION_FREE_WEIGHT // 2 < largest_int8_weight(model_dir / "model.onnx") <= SATURATION_FREE_WEIGHT
    assert largest_int8_weight(model_dir / FLOAT_FILE) == 0


def test_dynamic_int8_weights_fit_seven_bits(tmp_path: Path):
    weights = np.random.default_rng(1).normal(size=(16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(weights, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "f.onnx")
    quantize_weights_int8(tmp_path / "f.onnx", tmp_path / "q.onnx")
    assert SATURATION_FREE_WEIGHT // 2 < largest_int8_weight(tmp_path / "q.onnx") <= SATURATION_FREE_WEIGHT


def test_a_model_serves_its_float_twin_when_asked_and_refuses_float_it_does_not_have(tmp_path: Path):
    model_dir = exported(tmp_path / "int8")
    assert has_float_twin(model_dir)
    assert OnnxModel.load(model_dir).path == model_dir / "model.onnx"
    twin = OnnxModel.load(model_dir, precision="float")
    assert twin.path == model_dir / FLOAT_FILE
    assert twin.labels == OnnxModel.load(model_dir).labels
    (model_dir / FLOAT_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="int8 and has no float twin"):
        OnnxModel.load(model_dir, precision="float")
    float_only = exported(tmp_path / "float", calibrated=False)
    assert not has_float_twin(float_only)
    assert OnnxModel.load(float_only, precision="float").path == float_only / "model.onnx"


def test_the_service_setting_picks_the_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    model_dir = exported(tmp_path / "model")
    monkeypatch.setenv("FARGA_PRECISION", "float")
    precision = ServeSettings(root=tmp_path).precision
    assert precision == "float"
    source = ModelSource("symbols", "sqlite://", model_dir, tmp_path / "cache", precision=precision)
    assert source.load(source.current_version()).model.path == model_dir / FLOAT_FILE
    monkeypatch.setenv("FARGA_PRECISION", "fp16")
    with pytest.raises(ValueError, match="precision"):
        ServeSettings(root=tmp_path)


class Slowed:
    """An ONNX Runtime session that takes ``extra_s`` longer per run."""

    def __init__(self, session: object, extra_s: float):
        self.session, self.extra_s = session, extra_s

    def run(self, *args: object) -> object:
        time.sleep(self.extra_s)
        return self.session.run(*args)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.session, name)


@pytest.mark.parametrize(("slow", "served"), [("int8", "float"), ("float", "int8")])
def test_auto_serves_the_graph_measured_faster_where_it_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: str, served: str
):
    """Not assumed from the CPU's flags: both graphs are timed on a sample input, and the slower one
    (here made 2 ms slower) is not served; the answer says which graph gave it."""
    model_dir = exported(tmp_path / "model")
    made = onnx_runtime.new_session

    def session(path: Path, threads: int) -> object:
        graph = "float" if path.name == FLOAT_FILE else "int8"
        return Slowed(made(path, threads), 0.002) if graph == slow else made(path, threads)

    monkeypatch.setattr(onnx_runtime, "new_session", session)
    assert ServeSettings(root=tmp_path).precision == "auto"
    source = ModelSource("symbols", "sqlite://", model_dir, tmp_path / "cache")
    loaded = source.load(source.current_version())
    assert loaded.model.precision == served
    assert loaded.model.path.name == (FLOAT_FILE if served == "float" else "model.onnx")
    assert loaded.info["precision"] == served


def test_auto_keeps_int8_unless_float_is_clearly_faster_and_a_single_graph_serves_as_it_is(tmp_path: Path):
    assert onnx_runtime.chosen(int8_s=1.0, float_s=0.95) == "int8"  # within the margin: no flapping
    assert onnx_runtime.chosen(int8_s=1.0, float_s=0.85) == "float"
    float_only = exported(tmp_path / "float", calibrated=False)
    model = OnnxModel.load(float_only, precision="auto")
    assert (model.precision, model.path.name) == ("float", "model.onnx")


def test_the_benchmark_says_which_graph_is_faster_here():
    timing = {benchmark.INT8_ONE_THREAD: {"p50_ms": 0.5}, benchmark.FLOAT_ONE_THREAD: {"p50_ms": 0.4}}
    assert benchmark.faster_graph(timing) == "float"
    assert "the float graph is faster" in benchmark.precision_advice(timing)[0]
    timing[benchmark.FLOAT_ONE_THREAD] = {"p50_ms": 0.9}
    assert benchmark.faster_graph(timing) == "int8"
    assert benchmark.faster_graph({"onnxruntime float (served), 1 thread": {"p50_ms": 1.0}}) is None


@pytest.mark.parametrize(
    ("flags", "dot_product"),
    [
        ("flags\t\t: fpu sse2 avx avx2 fma bmi2", False),  # AMD Zen 2, Intel Haswell to Skylake
        ("flags\t\t: avx2 fma avx512f avx512bw avx512_vnni", True),  # Cascade Lake, Zen 4
        ("flags\t\t: avx2 fma avx512f avx512_vnni avx_vnni amx_int8 amx_tile", True),  # Sapphire Rapids
        ("Features\t: fp asimd asimddp", True),  # ARM with the dot-product extension
    ],
)
def test_the_cpu_is_named_with_what_decides_its_int8_kernels(tmp_path: Path, flags: str, dot_product: bool):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Some CPU\n{flags}\n\nprocessor\t: 1\nmodel name\t: Other\n")
    found = cpu.describe(info)
    assert found.model == "Some CPU"
    assert found.int8_dot_product is dot_product
    assert "avx2" in found.isa or "asimddp" in found.isa
    assert ("no int8 dot-product instruction" in found.summary()) is not dot_product
    assert cpu.Cpu.from_json(found.to_json()) == found
