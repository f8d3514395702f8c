"""``farga serve``: uvicorn's workers around the app factory, after the one migration they share.

Workers are separate processes that build their app from the environment (``ServeSettings``), so what
the command line chooses reaches them as FARGA_* variables: the components to serve, and that the
schema is already migrated (two workers migrating at once would race to create tables). Several
workers share one Prometheus multiprocess folder, which /metrics aggregates.
"""

from __future__ import annotations

import os
import tempfile

import uvicorn

from farga.serving import shutdown
from farga.serving.protocol import CoalescingHttpToolsProtocol
from farga.serving.settings import ServeSettings
from farga.serving.store import migrate


def run(host: str, port: int, workers: int, components: str = "") -> None:
    if components:
        os.environ["FARGA_COMPONENTS"] = components
    migrate(ServeSettings().resolved_database_url())
    os.environ["FARGA_MIGRATE_ON_START"] = "false"
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="farga-metrics-")
    settings = ServeSettings()
    config = uvicorn.Config(
        "farga.app:create_app",
        factory=True,
        http=CoalescingHttpToolsProtocol,  # a response leaves in one write: see farga.serving.protocol
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        proxy_headers=False,  # X-Forwarded-For is read by farga.serving.identity, from the right
    )
    shutdown.run(config, drain_s=settings.drain_s)
