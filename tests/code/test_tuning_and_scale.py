"""The pure parts of `farga tune` and `farga dev bench-scale`: where a value goes, what a bad space says,
and the generated section of docs/scale.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from farga import components
from farga.components import ScaleRun
from farga.config import Settings, StageContext
from farga.dev.scale_bench import END, START, ServingRate, TrainingRate, markdown, write_into
from farga.errors import FargaError
from farga.params import Dimension, ParamsError
from farga.tuning import current_values, dvc_sets, with_values
from support import REPO

pytestmark = pytest.mark.code


def context(tmp_path: Path, profile: str) -> StageContext[Any]:
    root = tmp_path / profile
    root.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["symbols"]["profile"] = profile
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return components.context("symbols", Settings(root=root))


def test_a_trial_value_lands_on_its_key_and_a_wrong_key_is_named(tmp_path: Path):
    ctx = context(tmp_path, "full")
    tried = with_values(ctx.config, {"train.lr": 0.01, "train.model.dropout": 0.1})
    assert (tried.train.lr, tried.train.model.dropout) == (0.01, 0.1)
    assert ctx.config.train.lr != 0.01  # the section itself is left alone
    with pytest.raises(FargaError, match=r"train\.lrate"):
        with_values(ctx.config, {"train.lrate": 0.01})
    with pytest.raises(FargaError, match=r"trian\.lr"):
        with_values(ctx.config, {"trian.lr": 0.01})
    with pytest.raises(ParamsError, match=r"train\.lr"):  # a value the model refuses stops the trial
        with_values(ctx.config, {"train.lr": -1.0})


def test_the_best_values_go_where_they_take_effect(tmp_path: Path):
    # the quick profile overrides train.model.hidden: -S must set it there, or the run would ignore it
    quick = context(tmp_path, "quick")
    assert dvc_sets(quick, {"train.lr": 0.002, "train.model.hidden": 64}) == [
        "symbols.train.lr=0.002",
        "symbols.profiles.quick.train.model.hidden=64",
    ]
    full = context(tmp_path, "full")
    assert dvc_sets(full, {"train.model.hidden": 64}) == ["symbols.train.model.hidden=64"]
    assert current_values(full, {"train.lr": Dimension(low=0.001, high=0.01)}) == {"train.lr": full.config.train.lr}


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"low": 0.1},
        {"low": 0.1, "high": 0.01},
        {"low": 0.0, "high": 1.0, "log": True},
        {"low": 0, "high": 1, "choices": [1]},
    ],
)
def test_a_search_dimension_must_be_a_range_or_choices(bad: dict[str, object]):
    with pytest.raises(ValueError, match="low"):
        Dimension.model_validate(bad)


def test_bench_scale_rewrites_only_its_section(tmp_path: Path):
    doc = tmp_path / "scale.md"
    doc.write_text(f"# Scale\n\nprose before\n\n{START}\nold figures\n{END}\n\nprose after\n")
    text = markdown(
        ScaleRun("symbols, full network, generated data", "images/s", "best validation top-1", "strokes"),
        [TrainingRate(1, 2, 500.0, 0.9), TrainingRate(2, 1, 610.0, 0.91)],
        [ServingRate(1, 1, 300.0, 50.0, 80.0, 0), ServingRate(2, 1, 550.0, 29.0, 70.0, 0)],
        "farga dev bench-scale",
    )
    write_into(doc, text)
    written = doc.read_text()
    assert "old figures" not in written
    assert written.startswith("# Scale\n\nprose before")
    assert written.endswith("prose after\n")
    assert "| 2 processes x 1 thread | 610 | 91.0% |" in written
    assert "| 2 replicas x 1 worker | 550 | 29.0 | 70.0 | 0 |" in written
    other = tmp_path / "other.md"
    other.write_text("no markers here")
    with pytest.raises(FargaError, match="no generated section"):
        write_into(other, text)


def test_the_committed_scale_page_has_generated_figures():
    page = (REPO / "docs" / "scale.md").read_text()
    section = page.split(START, 1)[1].split(END, 1)[0]
    assert "Measured by `farga dev bench-scale" in section
    assert "| 2 replicas x 1 worker |" in section
