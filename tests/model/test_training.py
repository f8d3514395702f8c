import json
from pathlib import Path

import numpy as np
import pytest
import torch

from farga import cpu
from farga.onnx_runtime import OnnxModel
from farga.symbols.augment import augment
from farga.symbols.export import export_onnx
from farga.symbols.model import CNNConfig, SymbolCNN
from farga.symbols.params import Augment, Network, Train
from farga.symbols.prepare import load_classes, load_split
from farga.symbols.train import evaluate_split, fit, kept, seed_everything, to_input
from support import REPO, config_of, run_on_avx2_cpu

pytestmark = pytest.mark.model

TINY = Network(channels=[8, 16, 32], convs_per_stage=[1, 1, 1], hidden=32, dropout=0.0)


def train_cfg(**overrides: object) -> Train:
    """The repository's symbols.train block, shrunk (no augmentation), with ``overrides``."""
    cfg = config_of(REPO, "symbols").train.model_dump()
    cfg.update(seed=0, epochs=1, batch_size=16, lr=0.01, weight_decay=0.0, warmup_fraction=0.3, label_smoothing=0.0)
    cfg["augment"]["enabled"] = False
    cfg["model"] = TINY.model_dump()
    return Train.model_validate({**cfg, **overrides})


def test_overfitting_one_batch_drives_the_loss_down(prepared_project: Path):
    seed_everything(0, 2)
    x, y, _ = load_split(prepared_project / "data/prepared/symbols", "train")
    x, y = x[:32], torch.as_tensor(y[:32])
    model = SymbolCNN(CNNConfig.from_params(12, TINY))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(60):
        model.train()
        loss = torch.nn.functional.cross_entropy(model(to_input(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    assert (model(to_input(x)).argmax(1) == y).float().mean() == 1.0


def test_training_is_deterministic_for_a_seed(prepared_project: Path):
    prepared = prepared_project / "data/prepared/symbols"
    train, val = load_split(prepared, "train")[:2], load_split(prepared, "val")[:2]
    runs = []
    for _ in range(2):
        seed_everything(5, 2)
        model = SymbolCNN(CNNConfig.from_params(12, TINY))
        _, history = fit(
            model, train, val, train_cfg(seed=5, augment=Augment(enabled=True, rotate_deg=8, scale=0.1, shift=0.1))
        )
        runs.append(history[-1])
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    assert runs[0]["val_top1"] == runs[1]["val_top1"]


def test_fit_returns_the_best_epoch_and_a_history(prepared_project: Path):
    prepared = prepared_project / "data/prepared/symbols"
    seed_everything(1, 2)
    model = SymbolCNN(CNNConfig.from_params(12, TINY))
    state, history = fit(model, load_split(prepared, "train")[:2], load_split(prepared, "val")[:2], train_cfg(epochs=3))
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert set(state) == set(model.state_dict())
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_the_kept_state_scores_what_its_history_says_with_averaged_weights_in_bf16(prepared_project: Path):
    """With a moving average of the weights the best state may be either; whichever fit kept must be
    the one its history names (the summary and the card report it). Under bf16 autocast it still learns."""
    prepared = prepared_project / "data/prepared/symbols"
    val = load_split(prepared, "val")[:2]
    seed_everything(1, 2)
    model = SymbolCNN(CNNConfig.from_params(12, TINY))
    state, history = fit(model, load_split(prepared, "train")[:2], val, train_cfg(epochs=4, ema=0.9), precision="bf16")
    # the average starts at the end of the warm-up (30% of 4 epochs): scored from epoch 2 on
    assert ["ema_val_top1" in row for row in history] == [False, True, True, True]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    fresh = SymbolCNN(CNNConfig.from_params(12, TINY))
    fresh.load_state_dict(state)
    assert evaluate_split(fresh, *val)["top1"] == pytest.approx(kept(history)["top1"])


def test_kept_prefers_the_first_best_and_the_raw_weights_on_a_tie():
    row = {"val_top5": 0.9, "ema_val_top5": 0.95}
    history = [
        {"epoch": 1, "val_top1": 0.5, "ema_val_top1": 0.6, **row},
        {"epoch": 2, "val_top1": 0.7, "ema_val_top1": 0.7, **row},
        {"epoch": 3, "val_top1": 0.6, "ema_val_top1": 0.7, **row},
    ]
    assert kept(history) == {"epoch": 2, "averaged": 0.0, "top1": 0.7, "top5": 0.9}
    history[2]["ema_val_top1"] = 0.71
    assert kept(history) == {"epoch": 3, "averaged": 1.0, "top1": 0.71, "top5": 0.95}
    assert kept([{"epoch": 1, "val_top1": 0.4, "val_top5": 0.8}])["averaged"] == 0.0  # no average kept


def test_a_last_batch_of_one_drawing_does_not_stop_training(prepared_project: Path):
    """Feedback can make the training set one more than a multiple of the batch: batch norm cannot
    train on a single drawing, so that one waits for the next epoch's shuffle."""
    prepared = prepared_project / "data/prepared/symbols"
    images, labels = load_split(prepared, "train")[:2]
    seed_everything(1, 2)
    model = SymbolCNN(CNNConfig.from_params(12, TINY))
    _, history = fit(model, (images[:17], labels[:17]), load_split(prepared, "val")[:2], train_cfg(batch_size=16))
    assert np.isfinite(history[0]["train_loss"])


def test_augmentation_keeps_shape_and_moves_ink():
    x = torch.zeros(4, 1, 32, 32)
    x[:, :, 10:20, 14:16] = 1.0
    out = augment(x, Augment(enabled=True, rotate_deg=15, scale=0.1, shift=0.1), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert not torch.allclose(out, x)
    assert out.sum() > 0.5 * x.sum()


def test_onnx_export_matches_torch_and_describes_itself(prepared_project: Path, tmp_path: Path):
    prepared = prepared_project / "data/prepared/symbols"
    classes = load_classes(prepared)
    model = SymbolCNN(CNNConfig.from_params(len(classes), TINY)).eval()
    export_onnx(model, classes, tmp_path, {"run_id": "r1", "data_sha256": "abc"})
    onnx_model = OnnxModel.load(tmp_path)
    x, _, _ = load_split(prepared, "test")
    inputs = to_input(x[:8]).contiguous()
    with torch.no_grad():
        expected = torch.softmax(model(inputs), 1).numpy()
    got = onnx_model.run(inputs.numpy())
    np.testing.assert_allclose(got["probabilities"], expected, atol=1e-5)
    assert got["embedding"].shape == (8, 32)
    assert [c["symbol_id"] for c in onnx_model.labels] == [c["symbol_id"] for c in classes]
    assert onnx_model.provenance["run_id"] == "r1"
    assert onnx_model.preprocessing["size"] == 32


@pytest.mark.parametrize("kernels", ["native", "avx2"])
def test_served_model_is_int8_and_agrees_with_its_float_graph(trained_project: Path, kernels: str, tmp_path: Path):
    """The pipeline serves the quantised file; it must still predict what the float network predicts,
    on this CPU's own int8 kernels and on the AVX2-only ones (no int8 dot products), where full-range
    int8 weights saturate 16-bit sums (80.6% agreement on such a machine before 7-bit weights)."""
    import onnx

    from farga.quantize import METADATA_KEY

    models = trained_project / "models/symbols"
    served, reference = OnnxModel.load(models), OnnxModel.load(models, precision="float")
    proto = onnx.load(str(models / "model.onnx"))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in proto.graph.node}
    assert METADATA_KEY in {prop.key for prop in proto.metadata_props}
    assert served.labels == reference.labels
    assert served.provenance == reference.provenance
    x, y, _ = load_split(trained_project / "data/prepared/symbols", "test")
    inputs = to_input(x).contiguous().numpy()
    expected = reference.run(inputs)["probabilities"]
    if kernels == "native":
        got = served.run(inputs)["probabilities"]
    else:
        got = run_on_avx2_cpu(models / "model.onnx", {"image": inputs}, tmp_path)["probabilities"]
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9
    assert np.abs(got - expected).max() < 0.15
    ids = np.array([c["symbol_id"] for c in served.labels])
    top1, float_top1 = (ids[got.argmax(1)] == y).mean(), (ids[expected.argmax(1)] == y).mean()
    assert top1 >= float_top1 - 0.05, f"int8 top-1 {top1:.3f} on {kernels} kernels, float {float_top1:.3f}"
    metrics = json.loads((trained_project / "reports/symbols/metrics.json").read_text())
    assert 0.0 <= metrics["test_top1_float"] <= 1.0
    assert metrics["machine"]["isa"] == list(cpu.describe().isa)


def test_the_int8_file_computes_the_same_on_cpus_with_and_without_int8_dot_products(
    trained_project: Path, tmp_path: Path
):
    """7-bit weights keep every uint8 x int8 pair sum inside 16 bits, so the AVX2 kernels add what the
    dot-product kernels add: one file, the same answers on every CPU (up to float rounding after)."""
    from farga.quantize import SATURATION_FREE_WEIGHT, largest_int8_weight

    models = trained_project / "models/symbols"
    assert 0 < largest_int8_weight(models / "model.onnx") <= SATURATION_FREE_WEIGHT
    x, _, _ = load_split(trained_project / "data/prepared/symbols", "test")
    inputs = to_input(x).contiguous().numpy()
    native = OnnxModel.load(models).run(inputs)["probabilities"]
    avx2 = run_on_avx2_cpu(models / "model.onnx", {"image": inputs}, tmp_path)["probabilities"]
    assert (native.argmax(1) == avx2.argmax(1)).all()
    assert np.abs(native - avx2).max() < 1e-3


def test_the_benchmark_s_naive_baseline_computes_the_served_float_graph(trained_project: Path):
    """The baseline of `farga bench` runs the served model's own float graph op by op in PyTorch eager
    (joined specialists included): a throughput comparison of the same network, not of another one."""
    from farga.symbols.bench_baseline import EagerOnnx

    graph = trained_project / "models" / "symbols" / "model_fp32.onnx"
    x = (np.random.default_rng(0).random((4, 1, 32, 32)) > 0.85).astype(np.float32)
    with torch.no_grad():
        eager = EagerOnnx(str(graph)).eval()(torch.from_numpy(x)).numpy()
    served = OnnxModel.load(graph).run(x)["probabilities"]
    np.testing.assert_allclose(eager, served, atol=1e-5)
