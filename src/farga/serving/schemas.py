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


def feedback_link(component: str, request_body: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI link from a predict answer to the feedback on it (``request_body`` holds runtime
    expressions such as ``$response.body#/prediction_id``): clients and stateful API tests see how
    the two calls chain."""
    link = {"operationId": f"{component}_feedback", "requestBody": request_body}
    return {200: {"description": "the prediction", "links": {"GiveFeedback": link}}}
