"""API types every component shares: strict request bodies, the model that answered, errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ModelInfo(BaseModel):
    name: str
    version: str
    run_id: str | None
    data_sha256: str | None
    data_source: str | None
    source: str


class ErrorResponse(BaseModel):
    detail: str


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes, each answered with an ``ErrorResponse``."""
    return {code: {"model": ErrorResponse, "description": text} for code, text in descriptions.items()}
