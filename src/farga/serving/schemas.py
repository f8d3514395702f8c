"""API types every component shares: strict request bodies, the model that answered, errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def storable(value: object) -> object:
    """A text every store keeps as sent: PostgreSQL refuses NUL in text and JSON, and no database takes
    a lone surrogate (JSON's ``"\\ud800"``), so either is the client's error, named, not the store's 500."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain NUL (\\u0000)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (a lone surrogate is not)") from None
    elif isinstance(value, list | tuple):
        for item in value:
            storable(item)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        return storable(value)


class ModelInfo(BaseModel):
    name: str
    version: str
    run_id: str | None
    data_sha256: str | None
    data_source: str | None
    source: str
    precision: Literal["int8", "float"] = Field(
        description="the graph that answered: int8, or the float graph it was quantised from "
        "(FARGA_PRECISION; auto: whichever answered sooner on this CPU when the model was loaded)"
    )


class ErrorResponse(BaseModel):
    detail: str


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes, each answered with an ``ErrorResponse``."""
    return {code: {"model": ErrorResponse, "description": text} for code, text in descriptions.items()}


def predict_errors(
    unreadable: str, invalid: str, media: str = "not application/json"
) -> dict[int | str, dict[str, Any]]:
    """A predict route's errors: its own reasons for 400, 415 and 422, and those every route shares."""
    return error_responses(
        {
            400: unreadable,
            413: "body over 1 MiB",
            415: media,
            422: invalid,
            429: "over this client's rate limit (see Retry-After)",
            503: "no model loaded yet, or the prediction log is backed up (see Retry-After)",
        }
    )


def feedback_errors(invalid: str) -> dict[int | str, dict[str, Any]]:
    """A feedback route's errors: its own reason for 422, and those every route shares."""
    return error_responses(
        {
            400: "the body is not readable JSON",
            404: "no such prediction",
            415: "not application/json",
            422: invalid,
            429: "over this client's rate limit (see Retry-After)",
            503: "the database is not taking writes (see Retry-After)",
        }
    )


def feedback_link(component: str, request_body: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI link from a predict answer to the feedback on it (``request_body`` holds runtime
    expressions such as ``$response.body#/prediction_id``): clients and stateful API tests see how
    the two calls chain."""
    link = {"operationId": f"{component}_feedback", "requestBody": request_body}
    return {200: {"description": "the prediction", "links": {"GiveFeedback": link}}}
