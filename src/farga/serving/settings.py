"""Serving settings, from the environment (prefix ``FARGA_``): where models and feedback live."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from farga.config import Settings
from farga.onnx_runtime import PrecisionChoice
from farga.serving.identity import trusted_networks


class ServeSettings(Settings):
    """The pipeline's settings (root, tracking URI) plus what only the service needs."""

    model_config = SettingsConfigDict(
        env_prefix="FARGA_", extra="ignore", protected_namespaces=(), use_attribute_docstrings=True
    )

    components: str = ""
    """Comma-separated names of the components to serve, in page order; empty: every installed one with a
    service, in the order each component asks for (its `page_order`)."""
    # Models: the registry's champion (default) or a fixed exported-model directory per component
    # (FARGA_MODEL_DIR_<COMPONENT>=/models/<component>, e.g. a model baked into an image).
    model_cache: Path | None = None
    """Where champions are downloaded to; empty: models/serving in root."""
    reload_interval_s: float = 60.0
    """How often each worker asks the registry for a new champion."""
    startup_wait_s: float = 30.0
    """The first model load is waited for this long; after it, live but not ready."""
    api_key: SecretStr = SecretStr("")
    """Admin endpoints are disabled while empty; never logged or echoed."""
    database_url: str = ""
    """Empty: SQLite file feedback.db in root."""
    migrate_on_start: bool = True
    """`farga serve` migrates once before starting workers, then turns this off."""
    threads: int = 1
    """ONNX Runtime intra-op threads per worker."""
    precision: PrecisionChoice = "auto"
    """Which graph of an int8 model serves: auto (both timed where the model loads, the faster serves:
    int8 where the CPU has int8 dot products, often float where it has not), int8, or float."""

    # Bounds. A worker's memory: the models (the two shipped: ~2 MB and ~30 MB with a trigram), the
    # runtime and libraries (~250 MB), a component's caches (bounded, fixed at load), one request at
    # a time per thread (<= max_body_bytes each), and the prediction log's queue (<= log_queue_mb).
    # Nothing a client sends grows it past memory_budget_mb, which the fault suite checks and
    # deploy/k8s sizes its pods by.
    memory_budget_mb: int = 600
    """What one worker may use, whatever clients send (checked by the fault suite; sizes deploy/k8s)."""
    max_body_bytes: int = 1 << 20
    """A larger body gets 413 before any route reads it."""
    body_timeout_s: float = 10.0
    """A body that has not arrived by then gets 408."""
    log_queue_rows: int = 10_000
    """Predictions waiting for the database, per worker; past it, 503."""
    log_queue_mb: int = 64
    """The same queue's bound in bytes."""
    # SIGTERM: stop listening, answer each open connection once more with Connection: close (at most
    # drain_s), then in-flight requests and the log's queue get shutdown_timeout_s
    drain_s: float = 2.0
    """SIGTERM: how long open connections are answered once more with Connection: close."""
    shutdown_timeout_s: float = 20.0
    """SIGTERM: then how long in-flight requests and the log's queue are given."""

    # Abuse and privacy. Rates are per client and per worker (0: no limit). Behind a proxy, the client is
    # the rightmost X-Forwarded-For address that is not one of forwarded_allow_ips (farga.serving.identity).
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For is believed: addresses or CIDR blocks, comma-separated; never `*`."""
    rate_predict_per_s: float = 50.0
    """Predictions per second per client address and worker (0: no limit); past it, 429."""
    rate_predict_burst: int = 100
    """Predictions a client may send at once before the rate applies."""
    rate_image_cost: float = Field(default=2.0, ge=1.0)
    """An uploaded image (`.../predict/image`) counts as this many predictions against the rate: it is
    decoded and rescaled, and may be up to max_body_bytes, where strokes are a few hundred points."""
    rate_feedback_per_s: float = 5.0
    """Feedback per second per client address and worker (0: no limit)."""
    rate_feedback_burst: int = 20
    """Feedback a client may send at once before the rate applies."""
    client_salt: SecretStr = SecretStr("")
    """The key of the HMAC that stands for a feedback's client (empty: a random key drawn on first start and
    kept in the store). The address is never stored; distinct clients can still be counted."""
    keep_inputs: bool = True
    """False: drawings and texts are not stored (no retraining from feedback, no drift)."""
    retention_days: float = 90.0
    """`farga ops prune`: predictions without feedback older than this go, and feedback forgets its client."""

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _named_proxies(cls, value: str) -> str:
        trusted_networks(value)  # raises, naming the entry, for `*` or a value that is no address
        return value

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.root / 'feedback.db').resolve()}"

    def cache_dir(self) -> Path:
        return self.model_cache or self.root / "models" / "serving"

    def model_dir(self, component: str) -> Path | None:
        import os

        value = os.environ.get(f"FARGA_MODEL_DIR_{component.upper()}")
        return Path(value) if value else None
