"""The fillmask API contract (pydantic): a sentence with one to five ``<mask>`` markers in, candidates out."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from farga.fillmask.text import MASK, split
from farga.serving.schemas import ModelInfo, Strict

MAX_CHARS = 1000
MAX_MASKS = 5
TOP_K_MAX = 20
MAX_FEEDBACK_CHARS = 128  # the feedback label column's width, as a JSON list


class PredictRequest(Strict):
    text: str = Field(
        min_length=1,
        max_length=MAX_CHARS,
        description=f"Catalan text with 1-{MAX_MASKS} `{MASK}` markers, each standing for one word "
        f"(at most {MAX_CHARS} characters, and what the model reads: about 40 words)",
    )
    top_k: int = Field(default=5, ge=1, le=TOP_K_MAX, description=f"candidates per mask (1-{TOP_K_MAX})")

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"text": "La capital de Catalunya és <mask>.", "top_k": 5}]},
    )

    @field_validator("text")
    @classmethod
    def masks(cls, text: str) -> str:
        n = split(text).count(MASK)  # as the model reads it: <MASK>, <Mask>, ... are markers too
        if n == 0:
            raise ValueError(f"the text has no {MASK} marker: put {MASK} where the missing word goes")
        if n > MAX_MASKS:
            raise ValueError(f"the text has {n} {MASK} markers; at most {MAX_MASKS} are accepted")
        return text


class Candidate(BaseModel):
    token: str = Field(description="a whole word, in its most common spelling", examples=["Barcelona"])
    score: float = Field(ge=0, le=1, examples=[0.41])


class Mask(BaseModel):
    candidates: list[Candidate]


class PredictResponse(BaseModel):
    prediction_id: str
    model: ModelInfo
    masks: list[Mask] = Field(description="one entry per <mask>, in the order they appear")


class FeedbackRequest(Strict):
    prediction_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="from the predict response")
    words: list[str] = Field(
        min_length=1,
        max_length=MAX_MASKS,
        description="the word the user meant for each <mask>, in order",
        examples=[["Barcelona"]],
    )

    @field_validator("words")
    @classmethod
    def single_words(cls, words: list[str]) -> list[str]:
        for word in words:
            if not word.strip() or len(word.split()) != 1:
                raise ValueError(f"each entry must be one word, got {word!r}")
        words = [w.strip() for w in words]
        if len(json.dumps(words, ensure_ascii=False)) > MAX_FEEDBACK_CHARS:
            raise ValueError(f"the words take more than {MAX_FEEDBACK_CHARS} characters in all")
        return words


class FeedbackResponse(BaseModel):
    prediction_id: str
    words: list[str]
    agreement: list[Literal["agree", "disagree", "disagree_outside_topk"]]
    stored: bool
