"""Which model serves: loading the registry's champion, and swapping it without downtime.

A swap loads the new model beside the old one, smoke-tests it, then replaces a single reference
(atomic under the GIL): requests in flight finish on the model they started with. A model that
fails to load or to pass its smoke test is never served; the old one stays and the failure is
counted and logged.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from farga.onnx_runtime import OnnxModel, PrecisionChoice

log = logging.getLogger("farga.serving")
LOCAL = "local"  # the version label of a model served from a fixed directory


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    model: Any  # what the component's loader returns (an OnnxModel by default); has ``provenance``
    source: str  # "registry" or "directory": public, so it names no host or path (the log does)

    @cached_property  # every answer carries it: made once per loaded model
    def info(self) -> dict[str, Any]:
        prov = self.model.provenance
        return {
            "name": self.name,
            "version": self.version,
            "run_id": prov.get("run_id"),
            "data_sha256": prov.get("data_sha256"),
            "data_source": prov.get("data_source"),
            "source": self.source,
            "precision": self.model.precision,
        }


@dataclass(frozen=True)
class ModelSource:
    """Where models come from: the MLflow registry (alias ``champion``), or a fixed directory."""

    name: str
    registry_uri: str
    model_dir: Path | None
    cache: Path
    threads: int = 1
    precision: PrecisionChoice = "auto"  # which graph of an int8 export serves: the faster here, it, or its float twin
    # model directory, threads, precision -> the served object; a component whose model is more
    # than one ONNX graph (a tokenizer, a vocabulary) passes its own
    loader: Callable[[Path, int, PrecisionChoice], Any] = OnnxModel.load

    def current_version(self) -> str:
        """The version the source would serve now (cheap: no download)."""
        if self.model_dir is not None:
            return LOCAL
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.registry_uri, registry_uri=self.registry_uri)
        return str(client.get_model_version_by_alias(self.name, "champion").version)

    def fetch(self, version: str) -> Path:
        """The model's local directory (downloaded once per version into the cache); nothing is loaded."""
        if self.model_dir is not None:
            return self.model_dir
        import mlflow

        from farga.tracking import download_version

        dest = self.cache / self.name / f"v{version}"
        if dest.is_dir():
            return dest  # complete: a version only ever appears here whole, by the rename below
        mlflow.set_tracking_uri(self.registry_uri)
        mlflow.set_registry_uri(self.registry_uri)  # models:/ URIs resolve through the registry
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Workers download side by side into folders of their own, then rename: a worker never reads
        # a version another one is still writing, and a download cut short leaves no half model.
        partial = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=dest.parent))
        try:
            download_version(self.name, version, partial)
            try:
                partial.rename(dest)
            except OSError:  # another worker's copy got there first; it is as complete as ours
                if not dest.is_dir():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return dest

    def load(self, version: str) -> LoadedModel:
        model = self.loader(self.fetch(version), self.threads, self.precision)
        if self.model_dir is not None:
            return LoadedModel(self.name, LOCAL, model, "directory")
        return LoadedModel(self.name, version, model, "registry")


class ModelSlot:
    """The serving reference to one component's model, with a guarded swap."""

    def __init__(self, source: ModelSource, smoke_test: Callable[[LoadedModel], None]):
        self.source = source
        self.smoke_test = smoke_test
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()  # one reload at a time; reads never wait for it

    def reload(self, *, force: bool = False) -> dict[str, Any]:
        with self._lock:
            previous = self.current
            try:
                wanted = self.source.current_version()
                if not force and previous is not None and wanted == previous.version:
                    return {"changed": False, "version": previous.version}
                candidate = self.source.load(wanted)
                self.smoke_test(candidate)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "model reload for %s failed; still serving %s: %s",
                    self.source.name,
                    previous.version if previous else "nothing",
                    self.last_error,
                )
                return {"changed": False, "error": self.last_error, "version": previous.version if previous else None}
            self.current = candidate  # the atomic swap
            self.last_error = None
            log.info(
                "serving %s v%s (was %s)",
                candidate.name,
                candidate.version,
                previous.version if previous else "nothing",
            )
            return {"changed": True, "version": candidate.version, "previous": previous.version if previous else None}
