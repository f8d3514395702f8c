"""A small pre-norm transformer that predicts a whole word from the rest of its sentence.

The input is subword tokens (WordPiece), with each masked word collapsed to one ``<mask>`` token,
because a user's ``<mask>`` stands for one word of unknown length. The head predicts that word
from a vocabulary of whole words, so one mask is one prediction, as it is scored and served.

Two architectures: ``cloze`` (the default; after Baevski et al., 2019) runs a left-to-right and a
right-to-left tower and reads a word off the states just before and just after it, which never saw
it, so every word of a training window can be a target with its context intact; ``mlm`` is one
bidirectional encoder that reads the word off its ``<mask>`` token, so it learns only from what it hides.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from farga.fillmask.params import Network

PAD, UNK, MASK = 0, 1, 2  # subword ids fixed by the tokenizer's special tokens, in this order
NETWORK_FILE = "network.pt"


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_words: int
    max_tokens: int
    dim: int = 256
    layers: int = 4
    heads: int = 4
    ffn: int = 1024
    dropout: float = 0.1
    tied: bool = False  # output word vectors built from the word's input subword vectors (plus a free part)
    architecture: str = "mlm"  # mlm (one encoder reads <mask>) | cloze (two one-way towers, ``layers`` each)

    @classmethod
    def from_params(cls, vocab_size: int, n_words: int, max_tokens: int, cfg: Network) -> ModelConfig:
        return cls(vocab_size, n_words, max_tokens, **cfg.model_dump())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor, dropout: float) -> torch.Tensor:
    """Softmax attention written out: on these short windows (<= 64 tokens) it trains faster than
    ``F.scaled_dot_product_attention``, whose CPU flash kernel spent a quarter of a training step in its
    backward with a boolean mask (``tools/fillmask_train_bench.py --profile``)."""
    scores = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    weights = F.dropout(torch.softmax(scores.masked_fill(~keep, -math.inf), dim=-1), dropout, training=dropout > 0)
    return weights @ v


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads, self.dropout = cfg.heads, cfg.dropout
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.qkv, self.proj = nn.Linear(cfg.dim, 3 * cfg.dim), nn.Linear(cfg.dim, cfg.dim)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.ffn), nn.GELU(), nn.Linear(cfg.ffn, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        y = attention(q, k, v, keep, self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))
        out: torch.Tensor = x + self.drop(self.mlp(self.ln2(x)))
        return out


class FillMaskModel(nn.Module):
    """``word_pieces`` (each output word's subword ids) is needed when ``cfg.tied``: a rare word then
    shares what its pieces learnt as inputs, instead of waiting for its own few training examples."""

    def __init__(self, cfg: ModelConfig, word_pieces: list[list[int]] | None = None):
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.dim, padding_idx=PAD)
        self.positions = nn.Embedding(cfg.max_tokens, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.dim)
        self.cloze = cfg.architecture == "cloze"
        if self.cloze:  # the right-to-left tower, and the states before a sentence's start / after its end
            self.back_blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
            self.back_ln = nn.LayerNorm(cfg.dim)
            self.edges = nn.Parameter(torch.zeros(2, cfg.dim))
        width = 2 * cfg.dim if self.cloze else cfg.dim
        self.head = nn.Sequential(nn.Linear(width, cfg.dim), nn.GELU(), nn.LayerNorm(cfg.dim))
        self.words = nn.Linear(cfg.dim, cfg.n_words)
        self.apply(self._init)
        self.composed = cfg.tied
        if cfg.tied:
            if word_pieces is None or len(word_pieces) != cfg.n_words:
                raise ValueError("a tied model needs the subword ids of each of its words")
            nn.init.zeros_(self.words.weight)
            self.register_buffer("pieces", torch.tensor([i for p in word_pieces for i in p], dtype=torch.long))
            self.register_buffer("offsets", torch.tensor([0, *np.cumsum([len(p) for p in word_pieces])[:-1]]))

    def output_weight(self) -> torch.Tensor:
        if not self.composed:
            return self.words.weight
        pieces, offsets = self.get_buffer("pieces"), self.get_buffer("offsets")
        bag = F.embedding_bag(pieces, self.tokens.weight, offsets, mode="mean")
        return bag + self.words.weight

    def materialise(self) -> FillMaskModel:
        """Fold the composed output vectors into a plain linear layer (for export: no embedding_bag in ONNX)."""
        if self.composed:
            with torch.no_grad():
                self.words.weight.copy_(self.output_weight())
            self.composed = False
        return self

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) subword ids, PAD-padded -> (B, T, dim) contextual states."""
        keep = (ids != PAD)[:, None, None, :]
        x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1], device=ids.device))
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, keep)
        out: torch.Tensor = self.ln(x)
        return out

    def towers(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) ids -> what the left-to-right tower knows *before* each token and what the
        right-to-left tower knows *after* it, both (B, T + 1, dim): a word spanning tokens [s, e)
        is predicted from ``before[s]`` and ``after[e]``, which never saw the word itself."""
        b, t = ids.shape
        keep = ids != PAD
        index = torch.arange(t, device=ids.device)
        x = self.drop(self.tokens(ids) + self.positions(index))
        seen_left = (index[:, None] >= index[None, :])[None, None] & keep[:, None, None, :]
        seen_right = ((index[:, None] <= index[None, :])[None, None] & keep[:, None, None, :]) | (
            index[:, None] == index[None, :]
        )[None, None]
        forward, backward = x, x
        for block in self.blocks:
            forward = block(forward, seen_left)
        for block in self.back_blocks:
            backward = block(backward, seen_right)
        start, end = self.edges[0].expand(b, 1, -1), self.edges[1].expand(b, 1, -1)
        before = torch.cat([start, self.ln(forward)], dim=1)
        after = torch.cat([self.back_ln(backward), end], dim=1)
        real = torch.cat([keep, torch.zeros_like(keep[:, :1])], dim=1)[..., None]
        return before, torch.where(real, after, end)

    def word_states(self, ids: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """What the head makes of the words spanning tokens [starts, ends) (B, M): (B, M, dim), to be
        scored against the output word vectors; an mlm model reads its ``<mask>`` token at ``starts``."""

        def pick(states: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
            return torch.gather(states, 1, at[..., None].expand(-1, -1, states.shape[-1]))

        if self.cloze:
            before, after = self.towers(ids)
            states = torch.cat([pick(before, starts), pick(after, ends)], dim=-1)
        else:
            states = pick(self.encode(ids), starts)
        out: torch.Tensor = self.head(states)
        return out

    def score(self, states: torch.Tensor) -> torch.Tensor:
        """Head states (..., dim) -> logits over every word (..., n_words)."""
        return F.linear(states, self.output_weight(), self.words.bias)

    def word_logits(self, ids: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """Word logits (B, M, n_words) for the words spanning tokens [starts, ends) (B, M)."""
        return self.score(self.word_states(ids, starts, ends))

    def forward(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Word log-probabilities at ``positions`` (B, M) of the masks: (B, M, n_words)."""
        return torch.log_softmax(self.word_logits(ids, positions, positions + 1), dim=-1)


def save_network(model: FillMaskModel, path: Path) -> Path:
    """The trained network as torch weights (output vectors folded in), beside the ONNX export that
    serves: for studies of what it learnt (``tools/fillmask_knn_study.py``) and for training on from it."""
    model.materialise()
    state = {k: v for k, v in model.state_dict().items() if k not in ("pieces", "offsets")}
    torch.save({"config": {**model.cfg.as_dict(), "tied": False}, "state": state}, path)
    return path


def load_network(path: Path) -> FillMaskModel:
    saved = torch.load(path, weights_only=True)
    model = FillMaskModel(ModelConfig(**saved["config"]))
    model.load_state_dict(saved["state"])
    return model.eval()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
