"""The symbols API contract (pydantic): strict types, finite numbers, bounded sizes."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, model_validator, with_config
from typing_extensions import TypedDict  # pydantic reads typing's TypedDict only from Python 3.12

from farga.serving.schemas import ModelInfo, Strict
from farga.symbols.catalogue import Origin

MAX_STROKES = 100
MAX_POINTS = 5_000
MAX_IMAGE_SIDE = 1024
Mode = Literal["math", "text", "both"]
TOP_K_MAX = 20
ORIGIN = "catalogue: HASYv2's curated symbols; users: a command users drew and named, learnt from their feedback"
TopK = Annotated[int, Field(ge=1, le=TOP_K_MAX, description=f"how many candidates to return (1-{TOP_K_MAX})")]


# A point is validated into a plain dict, not a model: a drawing is hundreds of them (an instance
# each was most of the validation's time), and the log keeps them as they were sent.
@with_config(ConfigDict(extra="forbid", strict=True, allow_inf_nan=False))
class Point(TypedDict):
    """A pen position."""

    x: Annotated[float, Field(description="x in any coordinate range (canvas pixels, say)")]
    y: Annotated[float, Field(description="y, growing downwards as on a canvas")]
    t: NotRequired[Annotated[float | None, Field(description="time stamp (ms); kept in the log, unused by the model")]]


class StrokesRequest(Strict):
    strokes: list[Annotated[list[Point], Field(min_length=1)]] = Field(
        min_length=1, max_length=MAX_STROKES, description=f"pen strokes, at most {MAX_STROKES}"
    )
    top_k: TopK = 5

    @model_validator(mode="after")
    def bounded_points(self) -> StrokesRequest:
        total = sum(len(s) for s in self.strokes)
        if total > MAX_POINTS:
            raise ValueError(f"the drawing has {total} points; at most {MAX_POINTS} are accepted")
        return self

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "strokes": [
                        [{"x": 10, "y": 80, "t": 0}, {"x": 50, "y": 10, "t": 40}, {"x": 90, "y": 80, "t": 80}],
                        [{"x": 30, "y": 50, "t": 200}, {"x": 70, "y": 50, "t": 240}],
                    ],
                    "top_k": 5,
                }
            ]
        },
    )


class Candidate(BaseModel):
    latex: str = Field(examples=[r"\alpha"])
    symbol_id: int = Field(examples=[160])
    score: float = Field(ge=0, le=1, examples=[0.93])
    package: str | None = Field(description="LaTeX package to load, null for none", examples=[None, "amssymb"])
    mode: Mode
    unicode: str | None = Field(default=None, description="the Unicode character, where one exists", examples=["α"])
    typst: str | None = Field(
        default=None, description="its name in Typst math, where Typst has one", examples=["alpha"]
    )
    origin: Origin = Field(default="catalogue", description=ORIGIN)


class PredictResponse(BaseModel):
    prediction_id: str
    model: ModelInfo
    candidates: list[Candidate]
    sure: bool = Field(
        description="false when the top score is under the model's calibrated threshold: "
        "the drawing may be no symbol the model knows; the candidates are still the best guesses"
    )
    threshold: float | None = Field(description="the model's 'not sure' threshold (null: not calibrated)")


class FeedbackRequest(Strict):
    prediction_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="from the predict response")
    latex: str = Field(
        min_length=1,
        max_length=128,
        description="the symbol the user meant: a catalogue command, or one it lacks (a new symbol)",
        examples=[r"\alpha"],
    )
    package: str | None = Field(
        default=None,
        max_length=40,
        description="for a command the catalogue lacks: the LaTeX package it needs (null: none). "
        "For a catalogue command, omit it or give the catalogue's",
        examples=[None, "stmaryrd"],
    )


class FeedbackResponse(BaseModel):
    prediction_id: str
    latex: str
    agreement: Literal["agree", "disagree", "disagree_outside_topk"]
    stored: bool
    new_symbol: bool = Field(
        default=False,
        description="a command the model does not know yet: kept, and learnt at a retraining once enough "
        "people have drawn it and TeX compiles it",
    )


class SymbolInfo(BaseModel):
    symbol_id: int
    latex: str
    package: str | None
    usepackage: str | None
    mode: Mode
    unicode: str | None
    typst: str | None = Field(description="its name in Typst math ($...$), where Typst has one")
    family: str
    preview: str | None = Field(description="a character that previews the symbol, when Unicode has one")
    origin: Origin = Field(default="catalogue", description=ORIGIN)
