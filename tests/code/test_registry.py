"""The registry gate, against a real MLflow (SQLite) and real logged ONNX models."""

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from farga import tracking
from farga.config import Settings
from farga.gate import SliceDrop, decide
from farga.params import Gate, Int8Bound

pytestmark = pytest.mark.code

GATE = Gate(
    metrics=["test_top1", "feedback_top1"],
    margin=0.01,
    slices=["test_by_family", "test_by_writer"],
    slice_tolerance=0.02,
)


def log_identity_model(settings: Settings) -> str:
    import mlflow

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    with tracking.run(settings, "gate"):
        info = mlflow.onnx.log_model(proto, name="model", save_as_external_data=False)
    return str(info.model_uri)


def gate(
    settings: Settings,
    tmp_path: Path,
    candidate: float,
    champion: float,
    slices: tuple[dict[str, float], dict[str, float]] = ({}, {}),
) -> dict:
    tracking.configure(settings, "gate")
    scored = []

    def score_champion(model_dir: Path) -> dict[str, float]:
        scored.append(model_dir)
        assert (model_dir / "model.onnx").exists()  # the champion's artifact really was fetched
        return {"test_top1": champion, **slices[1]}

    decision = tracking.register(
        "gate-model",
        tracking.RunInfo("run", log_identity_model(settings), "0" * 64, "test"),
        {"test_top1": candidate, **slices[0]},
        score_champion,
        GATE,
        tmp_path,
    )
    return {**decision.to_json(), "scored": len(scored)}


def test_first_model_becomes_champion_then_only_a_better_one_replaces_it(tmp_path: Path):
    settings = Settings(root=tmp_path)
    first = gate(settings, tmp_path, 0.80, 0.0)
    assert first["promoted"]
    assert first["reason"] == "no champion yet"
    assert first["scored"] == 0
    assert first["aliases"] == {"candidate": "1", "champion": "1"}

    within_margin = gate(settings, tmp_path, 0.805, 0.80)
    assert not within_margin["promoted"]
    assert within_margin["scored"] == 1
    assert within_margin["aliases"] == {"candidate": "2", "champion": "1"}
    assert "does not beat champion v1" in within_margin["reason"]

    better = gate(settings, tmp_path, 0.85, 0.80)
    assert better["promoted"]
    assert better["aliases"] == {"candidate": "3", "champion": "3", "previous-champion": "1"}
    assert tracking.aliases_of("gate-model")["champion"] == "3"


def test_a_better_candidate_that_regresses_on_a_slice_is_not_promoted(tmp_path: Path):
    settings = Settings(root=tmp_path)
    gate(settings, tmp_path, 0.80, 0.0)
    champion = {"test_by_family.arrow": 0.90, "test_by_family.greek": 0.80, "test_by_writer.other_writers": 0.70}
    small_dip = {"test_by_family.arrow": 0.89, "test_by_family.greek": 0.85, "test_by_writer.other_writers": 0.70}
    ok = gate(settings, tmp_path, 0.85, 0.80, (small_dip, champion))
    assert ok["promoted"]  # a dip within the tolerance does not block
    assert ok["slice_regressions"] == {}
    worse_slice = {**small_dip, "test_by_writer.other_writers": 0.60}
    blocked = gate(settings, tmp_path, 0.90, 0.85, (worse_slice, {**champion, "test_top1": 0.85}))
    assert not blocked["promoted"]
    assert set(blocked["slice_regressions"]) == {"test_by_writer.other_writers"}
    assert "test_by_writer.other_writers" in blocked["reason"]
    assert tracking.aliases_of("gate-model")["champion"] == "2"


def test_held_out_feedback_can_carry_a_challenger_but_the_test_set_may_not_fall(tmp_path: Path):
    settings = Settings(root=tmp_path)
    gate(settings, tmp_path, 0.80, 0.0)
    # no champion score on feedback (a metric either side lacks is left out): a tie on test is not enough
    assert not gate(settings, tmp_path, 0.80, 0.80, ({"feedback_top1": 0.9}, {}))["promoted"]
    better_on_feedback = gate(settings, tmp_path, 0.80, 0.80, ({"feedback_top1": 0.9}, {"feedback_top1": 0.6}))
    assert better_on_feedback["promoted"]
    assert "beats champion v1 on feedback_top1" in better_on_feedback["reason"]
    test_fell = gate(settings, tmp_path, 0.75, 0.80, ({"feedback_top1": 0.9}, {"feedback_top1": 0.6}))
    assert not test_fell["promoted"]
    assert set(test_fell["slice_regressions"]) == {"test_top1"}


def test_rollback_restores_the_previous_champion_and_can_be_undone(tmp_path: Path):
    from farga.errors import FargaError

    settings = Settings(root=tmp_path)
    gate(settings, tmp_path, 0.80, 0.0)
    with pytest.raises(FargaError, match="no previous champion"):
        tracking.rollback("gate-model")
    gate(settings, tmp_path, 0.90, 0.80)  # v2 becomes champion, v1 previous
    back = tracking.rollback("gate-model")
    assert (back["champion"], back["replaced"]) == ("1", "2")
    assert tracking.aliases_of("gate-model")["champion"] == "1"
    forward = tracking.rollback("gate-model")  # the rollback itself can be rolled back
    assert forward["champion"] == "2"
    assert tracking.aliases_of("gate-model")["previous-champion"] == "1"


def test_the_promotion_rule_is_a_pure_function():
    """Every branch of the rule with plain numbers: no registry, no models."""
    first = decide({"test_top1": 0.5}, None, None, GATE)
    assert first.promote
    assert first.reason == "no champion yet"
    assert not decide({"test_top1": 0.805}, {"test_top1": 0.80}, "1", GATE).promote  # within the margin
    assert decide({"test_top1": 0.81}, {"test_top1": 0.80}, "1", GATE).promote  # exactly the margin
    dip = decide(
        {"test_top1": 0.90, "test_by_writer.other": 0.60}, {"test_top1": 0.80, "test_by_writer.other": 0.70}, "1", GATE
    )
    assert not dip.promote
    assert dip.slice_regressions == {"test_by_writer.other": SliceDrop(0.60, 0.70, pytest.approx(0.10))}
    unnamed = decide({"test_top1": 0.90, "val_top1": 0.1}, {"test_top1": 0.80, "val_top1": 0.9}, "1", GATE)
    assert unnamed.promote  # a metric the gate does not name cannot block
    with pytest.raises(ValueError, match="neither model has any"):
        decide({"val_top1": 0.9}, {"test_top1": 0.8}, "1", GATE)


def test_an_int8_file_that_loses_too_much_to_its_float_twin_is_refused_champion_or_not():
    bounded = GATE.model_copy(
        update={"int8": Int8Bound(metric="test_top1", float_metric="test_top1_float", max_loss=0.003)}
    )
    lossy = {"test_top1": 0.815, "test_top1_float": 0.830}
    first = decide(lossy, None, None, bounded)
    assert not first.promote
    assert "loses 0.0150 of test_top1 to its float twin" in first.reason
    assert not decide(lossy, {"test_top1": 0.70}, "1", bounded).promote  # better than the champion, still refused
    close = {"test_top1": 0.828, "test_top1_float": 0.830}
    assert decide(close, None, None, bounded).promote
    assert decide(close, {"test_top1": 0.80}, "1", bounded).promote
    assert decide(lossy, None, None, GATE).promote  # a gate without the bound does not judge it
    assert decide({"test_top1": 0.815}, None, None, bounded).promote  # a float export has no twin to lose to


def test_flatten_and_numeric():
    nested = {"a": {"b": 1, "c": {"d": 0.5}}, "e": "text", "f": None}
    assert tracking.flatten(nested) == {"a.b": 1, "a.c.d": 0.5, "e": "text", "f": None}
    assert tracking.numeric(nested) == {"a.b": 1.0, "a.c.d": 0.5}


def test_workers_downloading_one_version_never_see_half_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Each download goes to a folder of its own and is renamed into place whole; a download that
    fails leaves nothing behind for the next worker to mistake for a model."""
    import threading
    import time

    from farga import tracking
    from farga.serving.models import ModelSource

    seen: list[list[str]] = []

    def slow_download(name: str, version: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for part in ("model.onnx", "tokenizer.json", "words.json", "ngram.npz"):
            (dest / part).write_text(part)
            time.sleep(0.05)
        return dest

    monkeypatch.setattr(tracking, "download_version", slow_download)
    source = ModelSource("fillmask", registry_uri=f"sqlite:///{tmp_path / 'r.db'}", model_dir=None, cache=tmp_path)

    def worker() -> None:
        seen.append(sorted(p.name for p in source.fetch("3").iterdir()))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [["model.onnx", "ngram.npz", "tokenizer.json", "words.json"]] * 4
    assert [p.name for p in (tmp_path / "fillmask").iterdir()] == ["v3"]  # no temporary folder left

    def broken_download(name: str, version: str, dest: Path) -> Path:
        (dest / "model.onnx").write_text("half")
        raise OSError("connection reset")

    monkeypatch.setattr(tracking, "download_version", broken_download)
    with pytest.raises(OSError, match="reset"):
        source.fetch("4")
    assert [p.name for p in (tmp_path / "fillmask").iterdir()] == ["v3"]


def test_reported_scores_are_shown_for_both_models_and_absent_when_there_are_none():
    from farga.tracking import reported_scores

    names = ["feedback_learnt_top1", "feedback_learnt_by_class"]
    candidate = {"test_top1": 0.9, "feedback_learnt_top1": 0.75, "feedback_learnt_by_class.100123": 0.75}
    champion = {"test_top1": 0.91, "feedback_learnt_top1": 0.0, "feedback_learnt_by_class.100123": 0.0}
    assert reported_scores(candidate, champion, names) == {
        "candidate": {"feedback_learnt_top1": 0.75, "feedback_learnt_by_class.100123": 0.75},
        "champion": {"feedback_learnt_top1": 0.0, "feedback_learnt_by_class.100123": 0.0},
    }
    assert reported_scores(candidate, None, names) == {
        "candidate": {k: v for k, v in candidate.items() if k != "test_top1"}
    }
    assert reported_scores({"test_top1": 0.9}, champion, names) is None  # no learnt class: the decision is as before
