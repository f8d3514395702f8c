"""The fillmask model: export parity, the served predictor, evaluation against the baselines, behaviour."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml
from typer.testing import CliRunner

from farga import checklist
from farga.cli import app
from farga.fillmask.behaviour import behaviour as fillmask_behaviour
from farga.fillmask.evaluate import score
from farga.fillmask.export import export
from farga.fillmask.model import FillMaskModel, ModelConfig
from farga.fillmask.predictor import Predictor
from farga.fillmask.text import MASK, split
from farga.fillmask.vocab import WORDS_FILE
from farga.quantize import SATURATION_FREE_WEIGHT, largest_int8_weight
from support import make_ctx, run_on_avx2_cpu

pytestmark = pytest.mark.model


@pytest.mark.parametrize("shape", [{}, {"architecture": "cloze"}], ids=["mlm", "cloze"])
def test_the_onnx_graph_computes_what_the_torch_model_does(tmp_path: Path, shape: dict):
    torch.manual_seed(0)
    model = FillMaskModel(ModelConfig(60, 30, 24, dim=32, layers=2, heads=4, ffn=64, dropout=0.0, **shape)).eval()
    ids = torch.randint(3, 60, (3, 17))
    ids[1, 12:] = 0  # padding
    positions = torch.tensor([[2, 5], [0, 11], [16, 1]])
    feeds = {"input_ids": ids.numpy(), "mask_positions": positions.numpy()}
    expected = model(ids, positions).detach().numpy()
    files = export(model, tmp_path, {"farga.provenance": {}}, quantize="none")
    session = ort.InferenceSession(str(files["model"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(feeds)
    got = session.run(None, feeds)[0]
    assert np.allclose(got, expected, atol=1e-4)


def test_the_served_predictor_gives_each_mask_a_distribution(trained_project: Path):
    predictor = Predictor.load(trained_project / "models/fillmask")
    words = split(f"Les cases de {MASK} són molt {MASK}.")
    masks = predictor.log_probs([words])[0]
    assert masks.shape == (2, len(predictor.vocab.words))
    assert np.allclose(np.exp(masks).sum(axis=1), 1.0, atol=1e-5)
    top = predictor.candidates(masks[1], 3)
    assert len(top) == 3
    assert top[0]["score"] >= top[1]["score"] >= top[2]["score"]
    assert all(t["token"] not in {".", ",", "<unk>"} for t in top)
    with pytest.raises(ValueError, match="at most"):
        predictor.transformer([["paraula"] * (predictor.max_tokens + 1) + [MASK]])


def test_the_int8_transformer_computes_the_same_with_and_without_int8_dot_products(
    trained_project: Path, tmp_path: Path
):
    """7-bit weights: the AVX2 kernels' 16-bit pair sums cannot saturate, so both kinds of CPU give the
    same answers, and every check of the int8 predictor made on one kind holds on the other. The
    float twin serves the same mixture."""
    model_dir = trained_project / "models/fillmask"
    predictor = Predictor.load(model_dir)
    assert 0 < largest_int8_weight(model_dir / "model.onnx") <= SATURATION_FREE_WEIGHT
    rng = np.random.default_rng(0)
    feeds = {
        "input_ids": rng.integers(3, predictor.settings["model"]["vocab_size"], (16, 12)),
        "mask_positions": rng.integers(0, 12, (16, 2)),
    }
    native = predictor.onnx.run(feeds)["log_probs"]
    avx2 = run_on_avx2_cpu(model_dir / "model.onnx", feeds, tmp_path)["log_probs"]
    assert (native.argmax(-1) == avx2.argmax(-1)).all()
    assert np.abs(native - avx2).max() < 1e-3
    twin = Predictor.load(model_dir, precision="float")
    assert twin.onnx.path.name == "model_fp32.onnx"
    assert twin.ngram_weight == predictor.ngram_weight


def test_evaluation_compares_every_predictor_on_the_same_words(trained_project: Path):
    metrics = json.loads((trained_project / "reports/fillmask/metrics.json").read_text())
    for part, genre in (("val", "synthetic"), ("unseen", "synthetic_unseen")):
        models = metrics[part]["models"]
        assert set(models) == {"unigram", "trigram", "transformer", "served"}
        assert {m["n"] for m in models.values()} == {metrics[part]["positions"]}
        for m in models.values():
            assert 0 <= m["top1"] <= m["top5"] <= 1
            assert m["perplexity"] >= 1
            assert set(m["by_class"]) <= {"function", "content"}
            assert set(m["by_genre"]) == {genre}  # one source, one genre: the slice is the whole
            assert m["by_genre"][genre]["top1"] == m["top1"]
            assert m["by_genre"][genre]["share"] == 1.0
        assert metrics[f"{part}_top1"] == models["served"]["top1"]
        ratios = metrics[part]["ratios"]
        assert ratios["served_vs_trigram_top1"] == pytest.approx(models["served"]["top1"] / models["trigram"]["top1"])
        assert ratios["by_genre"][genre]["served_vs_trigram_top5"] == pytest.approx(ratios["served_vs_trigram_top5"])
        # even the tiny model learns the synthetic grammar better than word frequency
        assert models["transformer"]["top1"] > models["unigram"]["top1"]
    # the bar is judged where the user is: on the held-out source
    bar = metrics["bar"]
    assert bar["split"] == "unseen"
    assert bar["served_vs_trigram_top1"] == metrics["unseen"]["ratios"]["served_vs_trigram_top1"]
    assert bar["met"] == (
        bar["transformer_beats_trigram_top1"]
        and bar["served_vs_trigram_top1"] >= 1.2
        and bar["served_vs_trigram_top5"] >= 1.13
    )
    for name in ("comparison.png", "val_examples.csv", "learning_curves.png"):
        assert (trained_project / "reports/fillmask" / name).stat().st_size > 0


def test_the_mixture_weight_is_chosen_on_the_held_out_source(trained_project: Path):
    """The served weight is the best of the unseen-dev grid, and both choices are scored on both splits."""
    mixture = json.loads((trained_project / "models/fillmask/mixture.json").read_text())
    assert mixture["chosen_on"] == "unseen_dev"
    grid = mixture["unseen_dev_by_weight"]
    best = max(grid, key=lambda w: (grid[w]["top1"] + grid[w]["top5"], -float(w)))
    assert float(best) == mixture["ngram_weight"]
    assert Predictor.load(trained_project / "models/fillmask").ngram_weight == mixture["ngram_weight"]
    metrics = json.loads((trained_project / "reports/fillmask/metrics.json").read_text())
    results = metrics["mixture"]["results"]
    assert set(results) == {str(mixture["ngram_weight"]), str(mixture["dev_weight"])}
    served = results[str(mixture["ngram_weight"])]
    assert served["unseen"]["top1"] == pytest.approx(metrics["unseen_top1"])
    assert served["val"]["top5"] == pytest.approx(metrics["val_top5"])


def test_the_registry_rescoring_matches_the_evaluation(trained_project: Path):
    params = yaml.safe_load((trained_project / "params.yaml").read_text())
    ctx = make_ctx(trained_project, params, "fillmask")
    rescored = score(ctx, trained_project / "models/fillmask")
    metrics = json.loads((trained_project / "reports/fillmask/metrics.json").read_text())
    for key in ("val_top1", "val_by_class", "unseen_top1", "unseen_by_class", "unseen_by_genre"):
        assert rescored[key] == pytest.approx(metrics[key])
    registry = json.loads((trained_project / "reports/fillmask/registry.json").read_text())
    assert registry["promoted"]
    assert registry["aliases"]["champion"] == "1"


def test_behavioural_tests_cover_the_three_families(trained_project: Path):
    params = yaml.safe_load((trained_project / "params.yaml").read_text())
    cases = fillmask_behaviour(make_ctx(trained_project, params, "fillmask"), trained_project / "models/fillmask")
    summary = checklist.summarise(cases, make_ctx(trained_project, params, "fillmask").config.behaviour.thresholds)
    assert all(f["n"] > 0 for f in summary["families"].values())
    assert {"agreement", "fixed expressions", "person names", "city names", "verb number"} <= {c.slice for c in cases}


def run_test_model(root: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, dict]:
    monkeypatch.chdir(root)
    monkeypatch.setenv("FARGA_ROOT", str(root))
    result = CliRunner().invoke(app, ["test-model", "fillmask", "--model", str(model)])
    return result.exit_code, json.loads((root / "reports/fillmask/behaviour.json").read_text())


def test_the_behavioural_suite_passes_a_sound_model_and_fails_one_with_its_words_shuffled(
    served: Path, monkeypatch: pytest.MonkeyPatch
):
    """The small model trained on the synthetic text (written from the suite's own lexicon) passes every
    family; the same network with its output vocabulary permuted, which still answers fluently-shaped
    distributions, fails the command."""
    code, report = run_test_model(served, served / "models/fillmask", monkeypatch)
    assert code == 0, report["families"]
    assert all(f["passed"] for f in report["families"].values())

    broken = served / "broken"
    shutil.copytree(served / "models/fillmask", broken)
    words = json.loads((broken / WORDS_FILE).read_text(encoding="utf-8"))
    order = [0, 1, 2, *(3 + np.random.default_rng(0).permutation(len(words["words"]) - 3)).tolist()]
    for key in ("words", "display", "counts"):
        words[key] = [words[key][i] for i in order]
    (broken / WORDS_FILE).write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")

    code, report = run_test_model(served, broken, monkeypatch)
    assert code == 1
    assert not report["passed"]
    families = report["families"]
    assert not families["minimum_functionality"]["passed"], families
    assert not families["directional"]["passed"], families


def test_the_benchmarks_naive_baseline_answers_what_the_served_network_does(trained_project: Path):
    """The baseline `farga bench fillmask` compares against serves the same network (its torch weights,
    eagerly): the same words, in the same order, with the float graph's probabilities."""
    from farga.fillmask.bench_baseline import Baseline

    model_dir = trained_project / "models" / "fillmask"
    baseline, twin = Baseline.load(model_dir), Predictor.load(model_dir, precision="float")
    words = twin.vocab.display
    for text in (f"la {MASK} de la casa", f"{MASK} és {MASK} gran ."):
        answered = baseline.predict(text, 5)
        (log_probs,) = twin.log_probs([split(text)], ngram_weight=0.0)
        expected = [twin.candidates(lp, 5) for lp in log_probs]
        assert len(answered) == text.count(MASK)
        for ours, theirs in zip(answered, expected, strict=True):
            assert [w for w, _ in ours] == [c["token"] for c in theirs]
            assert [s for _, s in ours] == pytest.approx([c["score"] for c in theirs], abs=1e-4)
            assert all(w in words for w, _ in ours)
