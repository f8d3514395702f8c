"""The ``fillmask`` section of params.yaml, every key declared (docs/configuration.md is generated from it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from farga.config import StageContext
from farga.params import ComponentParams, Strict, Thresholds

Share = tuple[float, float]


class Synthetic(Strict):
    """Generated demo text, for a run without the corpus (``data.source: synthetic``)."""

    sentences: int = Field(ge=1)
    seed: int
    unseen_sentences: int = Field(ge=0)
    """More sentences from the same generator, written as a second source (``synthetic_unseen``) so that
    the held-out-source path runs without the corpus; the same grammar, so no test of generalisation."""


class Data(Strict):
    source: Literal["catalan", "synthetic"]
    """catalan: the 25-file corpus; synthetic: generated demo text (for a run without it)."""
    val_fraction: float = Field(gt=0, lt=1, description="by document hash: scored only")
    dev_fraction: float = Field(ge=0, lt=1, description="by document hash: the best epoch")
    held_out: dict[Literal["catalan", "synthetic"], list[str]]
    """Per data source, whole sources (file names without ``.txt.gz``) kept out of training, dev, the
    tokenizer and the vocabularies: the text of a source the model never read."""
    unseen_dev_fraction: float = Field(gt=0, lt=1)
    """Of the held-out sources' lines (by document hash), the part that chooses the mixture weight; the
    rest (``unseen_test``) is only scored."""
    synthetic: Synthetic


class Contract(Strict):
    min_train_words: int = Field(ge=1)
    """Fewer training words stop the pipeline."""
    split_share: dict[Literal["train", "dev", "val"], Share]
    """The allowed share of each split among the lines of the sources that train, [low, high]."""
    min_unseen_lines: dict[Literal["catalan", "synthetic"], int]
    """Per data source, fewer lines of held-out sources in ``unseen_test`` stop the pipeline (too few for a
    stable figure); the synthetic stand-in is small by design."""


class Tokenizer(Strict):
    kind: Literal["wordpiece", "bpe"]
    """Hugging Face tokenizers, trained on the training split."""
    vocab_size: int = Field(ge=100)


class Words(Strict):
    max_size: int = Field(ge=1)
    """The output vocabulary: whole words the model and the trigram can predict."""
    min_count: int = Field(ge=1)


class Network(Strict):
    architecture: Literal["cloze", "mlm"]
    """cloze: two one-way towers read the word from either side; mlm: one encoder reads <mask>."""
    dim: int = Field(ge=8)
    layers: int = Field(ge=1)
    """Per tower for cloze."""
    heads: int = Field(ge=1)
    ffn: int = Field(ge=1)
    dropout: float = Field(ge=0, lt=1)
    tied: bool
    """Output word vectors = mean of the word's input subword vectors + a free part."""


class Export(Strict):
    quantize: Literal["int8", "none"]
    """int8: dynamic, weights; none: serve the float graph."""


class Train(Strict):
    seed: int
    threads: int = Field(ge=1)
    tokenizer: Tokenizer
    words: Words
    max_tokens: int = Field(ge=8)
    """Subword tokens per training window (and the longest text served)."""
    predict_fraction: float = Field(gt=0, le=1)
    """Cloze: of the words of a window, predicted each from its clean neighbours."""
    sampled_softmax: int = Field(ge=0, description="rivals drawn per step; 0: the full softmax")
    mask_fraction: float = Field(ge=0, lt=1)
    """Of the words of a window, each replaced by one <mask> (whole-word masking)."""
    epochs: int = Field(ge=1)
    """An upper bound: max_minutes decides where training ends."""
    max_minutes: float = Field(gt=0, description="the time budget: the schedule ends when it is spent")
    batch_tokens: int = Field(ge=64)
    """Padded tokens per batch (batches are length-bucketed)."""
    precision: Literal["auto", "bf16", "fp32"]
    """auto: bf16 where this CPU multiplies bfloat16 clearly faster (AMX), else fp32."""
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    warmup_fraction: float = Field(gt=0, lt=1)
    model: Network
    export: Export


class Ngram(Strict):
    discount: float = Field(gt=0, lt=1, description="interpolated absolute discounting of the trigram")


class Evaluate(Strict):
    positions: int = Field(ge=1, description="validation sentences scored, one masked word each")
    dev_positions: int = Field(ge=1, description="dev sentences that pick the best epoch")
    unseen_positions: int = Field(ge=1, description="unseen_test sentences scored, one masked word each")
    unseen_dev_positions: int = Field(ge=1, description="unseen_dev sentences that pick the mixture weight")
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


FillmaskContext = StageContext[FillmaskParams]
"""What every fillmask stage gets: its section of params.yaml as the model above."""
