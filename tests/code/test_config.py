from pathlib import Path

import pytest

from farga import components
from farga.config import ConfigError, Settings, component_params, deep_merge

pytestmark = pytest.mark.code


def test_profile_overrides_only_what_it_names():
    params = {
        "c": {"profile": "quick", "train": {"epochs": 10, "lr": 0.1}, "profiles": {"quick": {"train": {"epochs": 1}}}}
    }
    merged = component_params(params, "c")
    assert merged["train"] == {"epochs": 1, "lr": 0.1}
    assert merged["profiles"] == {"quick": {"train": {"epochs": 1}}}  # kept as written, for `farga tune`


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
        components.context("symbols", Settings(root=tmp_path))


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
    ctx = components.context("symbols", Settings(root=Path(__file__).resolve().parents[2]))
    assert ctx.config.profile == "full"
    assert ctx.config.data.source == "hasyv2"


def write_params(root: Path, edit) -> Settings:
    """The repository's params.yaml with ``edit`` applied, in ``root``."""
    import yaml
    from tests.support import REPO

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return Settings(root=root)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda p: p["fillmask"]["evaluate"]["ngram"].update(order=4), "fillmask.evaluate.ngram.order: unknown key"),
        (lambda p: p["symbols"]["train"].update(epoch=3), "symbols.train.epoch: unknown key"),
        (lambda p: p["symbols"]["train"]["model"].update(dropout="high"), "symbols.train.model.dropout"),
        (lambda p: p["symbols"]["data"].update(fold=11), "symbols.data.fold"),
        (lambda p: p["symbols"]["register"].pop("margin"), "symbols.register.margin"),
        # a typo in a profile that is not active still stops the run: it would bite the next user
        (lambda p: p["fillmask"]["profiles"]["quick"]["train"].update(max_minute=1), "max_minute: unknown key"),
    ],
)
def test_a_wrong_params_key_stops_the_stage_with_its_name(tmp_path: Path, edit, named: str):
    from farga.params import ParamsError

    settings = write_params(tmp_path, edit)
    component = "fillmask" if "fillmask" in named or "max_minute" in named else "symbols"
    with pytest.raises(ParamsError, match=named.replace("[", r"\[")):
        components.context(component, settings)


def test_every_repository_params_key_is_declared_and_typed():
    import yaml
    from tests.support import REPO

    from farga.config import validated_params

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for component in ("symbols", "fillmask"):
        config = validated_params(components.get(component).params, params, component)
        dumped = config.model_dump(by_alias=True, exclude_defaults=False)
        # nothing in the file is dropped on the way in: each key the file sets arrives in the model
        section = component_params(params, component)

        def keys(tree: dict, prefix: str = "") -> set[str]:
            out = set()
            for key, value in tree.items():
                out |= (
                    keys(value, f"{prefix}{key}.")
                    if isinstance(value, dict) and key != "split_share"
                    else {prefix + key}
                )
            return out

        assert keys(section) <= keys(dumped)


def test_the_cli_refuses_an_unknown_key_before_any_work(tmp_path: Path):
    from typer.testing import CliRunner

    from farga.cli import app

    settings = write_params(tmp_path, lambda p: p["symbols"]["train"].update(epoch=3))
    result = CliRunner().invoke(app, ["train", "symbols"], env={"FARGA_ROOT": str(settings.root)})
    assert result.exit_code == 1
    assert "symbols.train.epoch: unknown key" in result.output
    assert not (tmp_path / "models").exists()
