from pathlib import Path

import pytest

from farga.config import ConfigError, Settings, StageContext, component_params, deep_merge

pytestmark = pytest.mark.code


def test_profile_overrides_only_what_it_names():
    params = {
        "c": {"profile": "quick", "train": {"epochs": 10, "lr": 0.1}, "profiles": {"quick": {"train": {"epochs": 1}}}}
    }
    merged = component_params(params, "c")
    assert merged["train"] == {"epochs": 1, "lr": 0.1}
    assert "profiles" not in merged


def test_full_profile_is_the_section_itself():
    params = {"c": {"profile": "full", "train": {"epochs": 10}, "profiles": {"quick": {"train": {"epochs": 1}}}}}
    assert component_params(params, "c")["train"]["epochs"] == 10


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ConfigError, match="known: full, quick"):
        component_params({"c": {"profile": "fast", "profiles": {"quick": {}}}}, "c")


def test_missing_component_section():
    with pytest.raises(ConfigError, match="no section for component 'nope'"):
        component_params({"c": {}}, "nope")


def test_missing_params_file_says_where(tmp_path: Path):
    with pytest.raises(ConfigError, match="params file not found"):
        StageContext.load("symbols", Settings(root=tmp_path))


def test_deep_merge_does_not_mutate_inputs():
    base = {"a": {"b": 1, "c": [1]}}
    out = deep_merge(base, {"a": {"b": 2}})
    assert out == {"a": {"b": 2, "c": [1]}}
    assert base == {"a": {"b": 1, "c": [1]}}


def test_tracking_defaults_to_a_project_sqlite_file(tmp_path: Path):
    settings = Settings(root=tmp_path)
    assert settings.resolved_tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert Settings(root=tmp_path, tracking_uri="http://127.0.0.1:5000").resolved_tracking_uri().startswith("http")


def test_repository_params_are_the_full_profile():
    """The committed metrics.json and dvc.lock come from the full profile: params.yaml must say so."""
    ctx = StageContext.load("symbols", Settings(root=Path(__file__).resolve().parents[2]))
    assert ctx.params["profile"] == "full"
    assert ctx.params["data"]["source"] == "hasyv2"
