"""API types every component shares: strict request bodies, the model that answered, errors."""

from __future__ import annotations

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
