"""One place that knows where things live and which knobs are set.

Knobs that change results live in ``params.yaml`` (tracked by DVC); knobs that only say *where*
(tracking server, data archive) come from the environment, so the same pipeline runs on a laptop
with embedded backends and against servers in production.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from farga.errors import FargaError
from farga.params import P, validated

# Telemetry and hub access off: nothing phones home, nothing is fetched from a model hub at run time.
QUIET_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # ONNX Runtime 1.32 sends usage events to Microsoft from a background thread, on Linux too (seen
    # here as DNS lookups of mobile.events.data.microsoft.com every few seconds of a serving process)
    "ORT_DISABLE_TELEMETRY": "1",
}


def quiet_environment(force: bool = False) -> None:
    """Apply QUIET_ENVIRONMENT (without overriding what the user set, unless ``force``)."""
    for var, value in QUIET_ENVIRONMENT.items():
        if force:
            os.environ[var] = value
        else:
            os.environ.setdefault(var, value)


class ConfigError(FargaError, ValueError):
    """A params file or setting that cannot be used; the message says which and why."""


class Settings(BaseSettings):
    """Environment settings (prefix ``FARGA_``)."""

    model_config = SettingsConfigDict(env_prefix="FARGA_", extra="ignore", use_attribute_docstrings=True)

    root: Path = Path.cwd()
    """The project folder: params.yaml, data/, models/, reports/, the embedded registry and store."""
    params_file: str = "params.yaml"
    """The params file, relative to root."""
    tracking_uri: str = ""
    """MLflow tracking and registry; empty: embedded (mlflow.db and mlartifacts/ in root)."""

    train_nodes: int = Field(default=1, ge=1)
    """Machines taking part in `farga train` (torchrun --nnodes); each runs the same command."""
    train_processes: int = Field(default=1, ge=1)
    """Training processes per machine (torchrun --nproc-per-node); more than one worker in all: DDP."""
    train_rendezvous: str = "127.0.0.1:29400"
    """host:port where several machines' workers meet (torchrun's c10d rendezvous); one machine needs none."""
    train_run_id: str = "farga"
    """Names the rendezvous, so that two runs on one cluster do not meet."""
    train_max_restarts: int = Field(default=3, ge=0)
    """Times torchrun restarts the workers after one dies; each restart resumes from the last checkpoint."""
    checkpoint_dir: Path | None = None
    """Where training checkpoints go; empty: models/checkpoints in root (shared storage for several machines)."""
    checkpoint_minutes: float = Field(default=5.0, gt=0)
    """How often a training whose epochs are long checkpoints within an epoch (others: at every epoch's end)."""

    tune_storage: str = ""
    """Optuna's storage for `farga tune` (SQLAlchemy URL); empty: optuna.db in root. PostgreSQL for several machines."""

    def resolved_tune_storage(self) -> str:
        return self.tune_storage or f"sqlite:///{(self.root / 'optuna.db').resolve()}"

    def checkpoints(self, component: str) -> Path:
        return (self.checkpoint_dir or self.root / "models" / "checkpoints") / component

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{(self.root / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        return (self.root / "mlartifacts").resolve()


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_params(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"params file not found: {path} (run from the project root or set FARGA_ROOT)")
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def component_params(params: dict[str, Any], component: str) -> dict[str, Any]:
    """The component's section with its active profile's overrides applied.

    A profile (e.g. ``quick``) is a partial copy of the section; ``profile: full`` means no override.
    The profiles stay in it as written: `farga tune` writes a value where it takes effect.
    """
    if component not in params:
        raise ConfigError(f"params.yaml has no section for component {component!r}")
    section = dict(params[component])
    profiles = section.pop("profiles", {}) or {}
    profile = section.get("profile", "full")
    if profile != "full":
        if profile not in profiles:
            known = ", ".join(["full", *profiles]) or "full"
            raise ConfigError(f"unknown profile {profile!r} for {component}; known: {known}")
        section = deep_merge(section, profiles[profile])
    return {**section, "profiles": profiles} if profiles else section


@dataclass(frozen=True)
class ComponentPaths:
    """The cookiecutter-style layout, one folder per component at each level."""

    root: Path
    name: str
    part: str | None = None
    """One network of a model trained in parts: its own models/<name>-parts/<part> and reports/<name>/<part>."""

    def of_part(self, part: str) -> ComponentPaths:
        return ComponentPaths(self.root, self.name, part)

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw" / self.name

    @property
    def prepared(self) -> Path:
        return self.root / "data" / "prepared" / self.name

    @property
    def feedback(self) -> Path:
        """Accepted user feedback in the component's training format (a DVC-versioned stage output)."""
        return self.root / "data" / "feedback" / self.name

    @property
    def models(self) -> Path:
        models = self.root / "models"
        return models / self.name if self.part is None else models / f"{self.name}-parts" / self.part

    @property
    def reports(self) -> Path:
        reports = self.root / "reports" / self.name
        return reports if self.part is None else reports / self.part

    @property
    def metrics(self) -> Path:
        return self.reports / "metrics.json"


def validated_params(model: type[P], all_params: dict[str, Any], component: str) -> P:
    """The component's active section as its typed model; every profile is checked too, so that a
    typo in the quick profile stops a full run as well, before it has cost anything."""
    active = validated(model, component_params(all_params, component), component)
    base = {key: value for key, value in all_params[component].items() if key != "profiles"}
    for name, override in (all_params[component].get("profiles") or {}).items():
        validated(model, deep_merge(base, override), f"{component}[profile {name}]")
    return active


@dataclass(frozen=True)
class StageContext(Generic[P]):
    """What every pipeline stage gets: where, which component, and its params section (the active
    profile's overrides applied) as the component's own typed model, checked before any stage starts."""

    component: str
    settings: Settings
    config: P

    @property
    def paths(self) -> ComponentPaths:
        return ComponentPaths(self.settings.root, self.component)

    @classmethod
    def load(cls, component: str, model: type[P], settings: Settings | None = None) -> StageContext[P]:
        """An unknown or mistyped key stops here, naming it."""
        settings = settings or Settings()
        all_params = load_params(settings.root / settings.params_file)
        return cls(component, settings, validated_params(model, all_params, component))
