"""The ``fillmask`` section of params.yaml, every key declared (docs/configuration.md is generated from it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from farga.params import ComponentParams, Strict, Thresholds

Share = tuple[float, float]


class Synthetic(Strict):
    """Generated demo text, for a run without the corpus (``data.source: synthetic``)."""

    sentences: int = Field(ge=1)
    seed: int


class Data(Strict):
    source: Literal["catalan", "synthetic"]
    val_fraction: float = Field(gt=0, lt=1, description="by document hash: scored only")
    dev_fraction: float = Field(ge=0, lt=1, description="by document hash: best epoch, mixture weight")
    synthetic: Synthetic


class Contract(Strict):
    min_train_words: int = Field(ge=1)
    split_share: dict[Literal["train", "dev", "val"], Share]


class Tokenizer(Strict):
    kind: Literal["wordpiece", "bpe"]
    vocab_size: int = Field(ge=100)


class Words(Strict):
    max_size: int = Field(ge=1)
    min_count: int = Field(ge=1)


class Network(Strict):
    architecture: Literal["cloze", "mlm"]
    dim: int = Field(ge=8)
    layers: int = Field(ge=1)
    heads: int = Field(ge=1)
    ffn: int = Field(ge=1)
    dropout: float = Field(ge=0, lt=1)
    tied: bool
    memory: int = Field(ge=0, description="word-pair memory buckets (0: none)")
    memory_dim: int = Field(ge=1)


class Export(Strict):
    quantize: Literal["int8", "none"]


class Train(Strict):
    seed: int
    threads: int = Field(ge=1)
    tokenizer: Tokenizer
    words: Words
    max_tokens: int = Field(ge=8)
    predict_fraction: float = Field(gt=0, le=1)
    sampled_softmax: int = Field(ge=0, description="rivals drawn per step; 0: the full softmax")
    mask_fraction: float = Field(ge=0, lt=1)
    epochs: int = Field(ge=1)
    max_minutes: float = Field(gt=0, description="the time budget: the schedule ends when it is spent")
    batch_tokens: int = Field(ge=64)
    precision: Literal["auto", "bf16", "fp32"]
    lr: float = Field(gt=0)
    memory_lr_scale: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_fraction: float = Field(gt=0, lt=1)
    model: Network
    export: Export


class Ngram(Strict):
    discount: float = Field(gt=0, lt=1, description="interpolated absolute discounting of the trigram")


class Evaluate(Strict):
    positions: int = Field(ge=1, description="validation sentences scored, one masked word each")
    dev_positions: int = Field(ge=1, description="dev sentences that pick the mixture weight")
    seed: int
    ngram: Ngram


class Behaviour(Strict):
    thresholds: Thresholds


class FillmaskParams(ComponentParams):
    data: Data
    contract: Contract
    train: Train
    evaluate: Evaluate
    behaviour: Behaviour
