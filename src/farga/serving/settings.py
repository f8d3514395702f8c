"""Serving settings, from the environment (prefix ``FARGA_``): where models and feedback live."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from farga.config import Settings


class ServeSettings(Settings):
    """The pipeline's settings (root, tracking URI) plus what only the service needs."""

    model_config = SettingsConfigDict(env_prefix="FARGA_", extra="ignore", protected_namespaces=())

    components: str = ""  # comma-separated names of the components to serve; empty: every installed one with a service
    # Models: the registry's champion (default) or a fixed exported-model directory per component
    # (FARGA_MODEL_DIR_SYMBOLS=/models/symbols, e.g. a model baked into an image).
    model_cache: Path | None = None
    reload_interval_s: float = 60.0
    api_key: str = ""  # admin endpoints are disabled while empty
    database_url: str = ""  # empty: SQLite file feedback.db in root
    migrate_on_start: bool = True  # `farga serve` migrates once before starting workers, then turns this off
    threads: int = 1  # ONNX Runtime intra-op threads per worker
    max_body_bytes: int = 1 << 20

    def component_names(self) -> list[str]:
        named = [c.strip() for c in self.components.split(",") if c.strip()]
        if named:
            return named
        from farga import components

        return [name for name in sorted(components.available()) if components.get(name).has("service")]

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.root / 'feedback.db').resolve()}"

    def cache_dir(self) -> Path:
        return self.model_cache or self.root / "models" / "serving"

    def model_dir(self, component: str) -> Path | None:
        import os

        value = os.environ.get(f"FARGA_MODEL_DIR_{component.upper()}")
        return Path(value) if value else None
