"""A small JSON-over-HTTP client for talking to our own services (a Farga service, Prometheus) from
the CLI, with errors that name the server and what it said. The standard library suffices: the
pipeline and serving installs need no HTTP client package for it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from farga.errors import FargaError


def request_json(url: str, *, method: str = "GET", headers: dict[str, str] | None = None, what: str) -> Any:
    """The decoded JSON body of ``url``; ``what`` names the server in errors ("the Prometheus", ...)."""
    if not url.startswith(("http://", "https://")):
        raise FargaError(f"the {what} URL must be http(s), got {url!r}")
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise FargaError(f"the {what} at {url} refused: {exc.code} {exc.read().decode()[:300]}") from exc
    except OSError as exc:
        raise FargaError(f"the {what} at {url} does not answer: {exc}") from exc
