"""The ``symbols`` section of params.yaml, every key declared (docs/configuration.md is generated from it)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from farga.config import StageContext
from farga.params import ComponentParams, Monitor, Strict, Thresholds

Share = tuple[float, float]
Level = Annotated[float, Field(gt=0, lt=1)]


class Synthetic(Strict):
    """Rendered demo data, for a run without HASYv2 (``data.source: synthetic``)."""

    classes: int = Field(default=0, ge=0, description="0: the whole catalogue")
    samples_per_class: int = Field(default=40, ge=1)
    writers: int = Field(default=8, ge=1)
    seed: int = 0
    symbols: list[str] = Field(default=[], description="these LaTeX commands exactly (tests that need them)")


class WriterHoldout(Strict):
    """Identified writers kept out of training and validation entirely: the writer-disjoint test."""

    seed: int
    """Salts the writer-id hash that chooses them."""
    fraction: dict[Literal["hasyv2", "synthetic"], float] = Field(description="of each source's identified writers")
    pools: list[int] = Field(description="anonymous pools of many people (Detexify's 16925): never held out")


class Data(Strict):
    source: Literal["hasyv2", "synthetic"]
    """hasyv2: real handwriting; synthetic: rendered demo data (for a run without HASYv2)."""
    fold: int = Field(ge=1, le=10, description="HASYv2's official classification fold")
    val_fraction: float = Field(gt=0, lt=1, description="carved from the training fold, stratified by class")
    seed: int
    """The validation draw."""
    writer_holdout: WriterHoldout
    synthetic: Synthetic = Synthetic()


class Contract(Strict):
    min_train_per_class: int = Field(ge=1)
    """Fewer training drawings of any class stop the pipeline."""
    split_share: dict[Literal["train", "val", "test", "writer_test", "feedback_test"], Share]
    """The allowed share of each split in the prepared data, [low, high]."""
    require_full_catalogue: bool | None = Field(default=None, description="default: only for HASYv2")


class Augment(Strict):
    enabled: bool
    """Another writer, pen and device for each training drawing (docs/experiments/2026-12-04-*)."""
    rotate_deg: float = Field(ge=0)
    scale: float = Field(ge=0, lt=1)
    shift: float = Field(ge=0, lt=1)
    shear: float = Field(default=0.0, ge=0, lt=1)
    elastic: float = Field(default=0.0, ge=0, lt=0.5, description="largest smooth displacement, share of the side")
    pen: tuple[Level, Level] | None = None
    """Blur and binarise again at a level drawn from this range: low draws heavier, high finer. None: off."""
    pen_share: float = Field(default=1.0, ge=0, le=1, description="set by each specialist (train.specialists)")
    breaks: float = Field(default=0.0, ge=0, le=1, description="share of drawings that lose a 3x3 patch of ink")


class Network(Strict):
    channels: list[int] = Field(min_length=1)
    """Channels of each convolutional stage."""
    convs_per_stage: list[int] = Field(min_length=1)
    hidden: int = Field(ge=1)
    """Width of the fully connected layer before the classes."""
    dropout: float = Field(ge=0, lt=1)


class Export(Strict):
    quantize: Literal["int8", "none"]
    """int8: static, calibrated (about 2x faster at batch 1); none: serve the float graph."""
    calibration_samples: int = Field(ge=1)
    """Training drawings that calibrate the int8 ranges."""
    unsure_target_precision: float = Field(gt=0, le=1)
    """"Not sure" below the confidence whose answers are right this often (validation)."""
    reference_samples: int = Field(ge=1)
    """Training drawings kept with the model as the drift reference."""


class Specialist(Strict):
    """One network of the served model, with its own recipe: each is trained by its own run of the
    train stage and the served model weighs their log-probabilities (docs/experiments/2026-12-07-*)."""

    seed: int
    pool_weight: float = Field(gt=0)
    """How often a drawing of an anonymous pool (data.writer_holdout.pools) is drawn, relative to one by an
    identified writer: below 1, the pool's 91% of HASYv2 dominates each epoch less."""
    pen_share: float = Field(ge=0, le=1)
    """Share of drawings redrawn with another pen (train.augment.pen): 0, none."""


class Train(Strict):
    seed: int
    threads: int = Field(ge=1)
    """CPU threads of the training process."""
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_fraction: float = Field(gt=0, lt=1)
    """Share of the one-cycle schedule spent warming up."""
    label_smoothing: float = Field(ge=0, lt=1)
    precision: Literal["auto", "bf16", "fp32"] = "fp32"
    """auto: bfloat16 autocast where this CPU multiplies bfloat16 clearly faster (AMX: a step 2.2x
    faster), else float32 (docs/experiments/2026-12-07-symbols-train-step.md)."""
    ema: float = Field(default=0.0, ge=0, lt=1)
    """Decay per step of an exponential moving average of the weights, scored beside them after every
    epoch (the better of the two may be kept); 0: none."""
    pool_weight: float = Field(default=1.0, gt=0)
    """Set by each specialist (train.specialists)."""
    augment: Augment
    model: Network
    export: Export
    specialists: dict[str, Specialist] = Field(min_length=1)
    """The served model's networks by name (each a `symbols-train@<name>` stage); their log-probabilities
    are weighed on validation."""
    join_step: float = Field(default=0.05, gt=0, le=1)
    """The weights' grid on the simplex, searched for the best mean validation top-1 over both crowds."""

    @field_validator("specialists")
    @classmethod
    def _names(cls, value: dict[str, Specialist]) -> dict[str, Specialist]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9]*", name):
                raise ValueError(f"specialist name {name!r}: lower-case letters and digits (a stage key and a folder)")
        return value

    def of(self, part: str) -> Train:
        """The recipe of one specialist: this one with its seed, pool weight and pen share."""
        s = self.specialists[part]
        augment = self.augment.model_copy(update={"pen_share": s.pen_share})
        return self.model_copy(update={"seed": s.seed, "pool_weight": s.pool_weight, "augment": augment})


class Behaviour(Strict):
    seed: int
    samples_per_class: int = Field(ge=1)
    """Test drawings per class for the invariance tests."""
    frequent_classes: int = Field(ge=1)
    """Minimum functionality: clean renders of this many most frequent classes."""
    thresholds: Thresholds


class Quarantine(Strict):
    max_model_probability: float = Field(ge=0, le=1)
    """A label is held for review when the champion gives it less than this ..."""
    max_neighbour_share: float = Field(ge=0, le=1)
    """... and no more than this share of the nearest training drawings carry it."""
    neighbours: int = Field(ge=1)


class NewSymbols(Strict):
    min_drawings: int = Field(default=30, ge=2)
    """A command outside the catalogue waits for a person's approval once this many accepted drawings ..."""
    min_clients: int = Field(default=3, ge=1)
    """... come from this many distinct clients ..."""
    min_days: int = Field(default=2, ge=1)
    """... on this many distinct days (UTC) ..."""
    max_client_share: float = Field(default=0.4, gt=0, le=1)
    """... with no client's drawings counting for more than this share of min_drawings."""


class Feedback(Strict):
    holdout_fraction: float = Field(ge=0, lt=1)
    """Of accepted feedback, held out (by image hash) to compare challenger and champion."""
    max_per_client: int = Field(default=20, ge=1)
    """Accepted drawings of one class from one client that may train (the earliest): a flood of one
    client's labels, right or wrong, weighs no more than this."""
    quarantine: Quarantine
    new_symbols: NewSymbols = NewSymbols()


class SymbolsParams(ComponentParams):
    data: Data
    contract: Contract
    train: Train
    behaviour: Behaviour
    feedback: Feedback
    monitor: Monitor


SymbolsContext = StageContext[SymbolsParams]
"""What every symbols stage gets: its section of params.yaml as the model above."""
