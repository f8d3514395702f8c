"""symbols' served model is its specialists joined: one network per recipe (a stage each), their
log-probabilities weighed on validation drawings of both crowds, exported as one graph that serves
like a single network; a specialist is trained again only when its recipe or data changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from farga.onnx_runtime import OnnxModel
from farga.symbols import catalogue
from farga.symbols.export import export_onnx
from farga.symbols.join import current, fit_weights, simplex
from farga.symbols.model import CNNConfig, Joined, SymbolCNN
from farga.symbols.train import to_input
from support import make_ctx

pytestmark = pytest.mark.model


def test_the_weight_grid_covers_the_simplex():
    assert simplex(2, 0.25) == [(0.0, 1.0), (0.25, 0.75), (0.5, 0.5), (0.75, 0.25), (1.0, 0.0)]
    three = simplex(3, 0.5)
    assert len(three) == 6
    assert all(sum(w) == pytest.approx(1.0) for w in three)


def crowd_case() -> tuple[list[np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """90 pool drawings and 10 by identified writers, two classes, the true class 0. Specialist A is
    right on the whole pool (barely on 18 of them, where B is sure and wrong) and slightly wrong on
    the writers; B is sure and right on the writers. A alone has 90% of all drawings right; a mix
    has 82%, but it is right on every writer's drawing and on 80% of the pool's."""
    pool = np.arange(100) < 90
    barely = np.arange(100) < 18
    sure_right, barely_right = np.log([0.95, 0.05]), np.log([0.55, 0.45])
    slightly_wrong, sure_wrong = np.log([0.45, 0.55]), np.log([0.01, 0.99])
    a = np.where(barely[:, None], barely_right, np.where(pool[:, None], sure_right, slightly_wrong))
    b = np.where(barely[:, None], sure_wrong, np.where(pool[:, None], slightly_wrong, sure_right))
    return [a, b], np.zeros(100, dtype=int), {"pool": pool, "writers": ~pool}


def test_the_weights_serve_both_crowds_not_the_larger_one():
    log_probs, labels, crowds = crowd_case()
    weights, grid = fit_weights(log_probs, labels, crowds, 0.1)
    assert 0.0 < weights[0] < 1.0, weights  # a mix, although A alone is right more often overall
    best = next(row for row in grid if row["weights"] == list(weights))
    assert (best["pool"], best["writers"]) == (0.8, 1.0)
    alone_a = next(row for row in grid if row["weights"] == [1.0, 0.0])
    assert (alone_a["pool"], alone_a["writers"]) == (1.0, 0.0)


def test_a_useless_specialist_gets_no_weight():
    log_probs, labels, _ = crowd_case()
    sure = slice(18, 90)  # the pool's drawings A is sure of
    wrong = np.log(np.tile([0.01, 0.99], (72, 1)))  # sure and wrong on every one
    weights, grid = fit_weights([log_probs[0][sure], wrong], labels[sure], {"pool": np.ones(72, bool)}, 0.25)
    assert [row["weights"] for row in grid if row["mean"] == 1.0] == [[0.75, 0.25], [1.0, 0.0]]
    assert weights == (1.0, 0.0)  # of the mixes right as often, the one with the lower loss


def networks() -> list[SymbolCNN]:
    torch.manual_seed(0)
    nets = [SymbolCNN(CNNConfig(3, (4, 8), (1, 1), hidden=8 + 4 * i, dropout=0.0)).eval() for i in range(2)]
    for net in nets:  # batch-norm statistics other than the identity, so that the export must carry them
        net.train()
        with torch.no_grad():
            net(torch.rand(16, 1, 32, 32))
        net.eval()
    return nets


def test_the_joined_graph_is_the_weighted_sum_of_log_probabilities(tmp_path: Path):
    nets = networks()
    joined = Joined(nets, [0.3, 0.7]).eval()
    x = torch.rand(5, 1, 32, 32)
    with torch.no_grad():
        expected = 0.3 * torch.log_softmax(nets[0](x), 1) + 0.7 * torch.log_softmax(nets[1](x), 1)
        assert torch.allclose(joined(x), expected, atol=1e-6)
        assert joined.embedding(x).shape == (5, 8 + 12)
    classes = [{"symbol_id": s.symbol_id} for s in list(catalogue.by_id().values())[:3]]
    export_onnx(joined, classes, tmp_path, {"run_id": "joined"})
    model = OnnxModel.load(tmp_path)
    images = (np.random.default_rng(0).random((5, 32, 32)) * 255).astype(np.uint8)
    with torch.no_grad():
        want = torch.softmax(joined(to_input(images).contiguous()), 1).numpy()
    got = model.run(to_input(images).contiguous().numpy())["probabilities"]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_specialist_is_current_until_its_recipe_changes(trained_project: Path):
    params = yaml.safe_load((trained_project / "params.yaml").read_text())
    ctx = make_ctx(trained_project, params, "symbols")
    assert all(current(ctx, part) for part in params["symbols"]["train"]["specialists"])
    params["symbols"]["train"]["specialists"]["writers"]["pen_share"] = 0.5
    changed = make_ctx(trained_project, params, "symbols")
    assert current(changed, "pool")
    assert not current(changed, "writers")
    params["symbols"]["train"]["lr"] = 0.001  # the shared recipe: every specialist
    assert not any(current(make_ctx(trained_project, params, "symbols"), p) for p in ("pool", "writers"))


def test_the_served_model_names_its_specialists_and_their_weights(trained_project: Path):
    run = json.loads((trained_project / "models/symbols/run.json").read_text())
    parts = run["specialists"]
    assert set(parts) == {"pool", "writers"}
    assert sum(p["weight"] for p in parts.values()) == pytest.approx(1.0)
    for part, facts in parts.items():
        own = json.loads((trained_project / f"models/symbols-parts/{part}/run.json").read_text())
        assert facts["run_id"] == own["run_id"] != run["run_id"]
        assert (trained_project / f"reports/symbols/{part}/history.json").exists()
    assert OnnxModel.load(trained_project / "models/symbols").provenance["specialists"] == {
        part: facts["run_id"] for part, facts in parts.items()
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "symbols", "--part", "nope"], "symbols has no part 'nope'; its parts: pool, writers"),
        (["train", "fillmask", "--part", "pool"], "fillmask has no model trained in parts"),
    ],
)
def test_a_part_the_component_lacks_is_named(prepared_project: Path, tmp_path: Path, args: list[str], message: str):
    from farga.cli import app

    root = tmp_path / "p"
    shutil.copytree(prepared_project, root)
    result = CliRunner().invoke(app, args, env={"FARGA_ROOT": str(root)})
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert not (root / "models").exists()
