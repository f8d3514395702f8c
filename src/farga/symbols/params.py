"""The ``symbols`` section of params.yaml, every key declared (docs/configuration.md is generated from it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from farga.params import ComponentParams, Strict, Thresholds

Share = tuple[float, float]


class Synthetic(Strict):
    """Rendered demo data, for a run without HASYv2 (``data.source: synthetic``)."""

    classes: int = Field(default=0, ge=0, description="0: the whole catalogue")
    samples_per_class: int = Field(default=40, ge=1)
    writers: int = Field(default=8, ge=1)
    seed: int = 0
    symbols: list[str] = Field(default=[], description="these LaTeX commands exactly (tests that need them)")


class Data(Strict):
    source: Literal["hasyv2", "synthetic"]
    fold: int = Field(ge=1, le=10, description="HASYv2's official classification fold")
    val_fraction: float = Field(gt=0, lt=1, description="carved from the training fold, stratified by class")
    seed: int
    synthetic: Synthetic = Synthetic()


class Contract(Strict):
    min_train_per_class: int = Field(ge=1)
    split_share: dict[Literal["train", "val", "test", "feedback_test"], Share]
    require_full_catalogue: bool | None = Field(default=None, description="default: only for HASYv2")


class Augment(Strict):
    enabled: bool
    rotate_deg: float = Field(ge=0)
    scale: float = Field(ge=0, lt=1)
    shift: float = Field(ge=0, lt=1)


class Network(Strict):
    channels: list[int] = Field(min_length=1)
    convs_per_stage: list[int] = Field(min_length=1)
    hidden: int = Field(ge=1)
    dropout: float = Field(ge=0, lt=1)


class Export(Strict):
    quantize: Literal["int8", "none"]
    calibration_samples: int = Field(ge=1)
    unsure_target_precision: float = Field(gt=0, le=1)
    reference_samples: int = Field(ge=1)


class Train(Strict):
    seed: int
    threads: int = Field(ge=1)
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_fraction: float = Field(gt=0, lt=1)
    label_smoothing: float = Field(ge=0, lt=1)
    augment: Augment
    model: Network
    export: Export


class Behaviour(Strict):
    seed: int
    samples_per_class: int = Field(ge=1)
    frequent_classes: int = Field(ge=1)
    thresholds: Thresholds


class Quarantine(Strict):
    max_model_probability: float = Field(ge=0, le=1)
    max_neighbour_share: float = Field(ge=0, le=1)
    neighbours: int = Field(ge=1)


class Feedback(Strict):
    holdout_fraction: float = Field(ge=0, lt=1)
    quarantine: Quarantine


class Monitor(Strict):
    window: int = Field(ge=1)
    min_samples: int = Field(ge=1)
    alpha: float = Field(gt=0, lt=1)
    distance: float = Field(ge=0)
    auc: float = Field(ge=0.5, le=1)
    share: float = Field(ge=0, le=1)


class SymbolsParams(ComponentParams):
    data: Data
    contract: Contract
    train: Train
    behaviour: Behaviour
    feedback: Feedback
    monitor: Monitor
