"""A small pre-norm transformer encoder with a whole-word masked-language-model head.

The input is subword tokens (WordPiece), with each masked word collapsed to one ``<mask>`` token,
because a user's ``<mask>`` stands for one word of unknown length. The head predicts that word
from a vocabulary of whole words, so one mask is one prediction, as it is scored and served.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PAD, UNK, MASK = 0, 1, 2  # subword ids fixed by the tokenizer's special tokens, in this order


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

    @classmethod
    def from_params(cls, vocab_size: int, n_words: int, max_tokens: int, cfg: dict[str, Any]) -> ModelConfig:
        keys = ("dim", "layers", "heads", "ffn", "dropout", "tied")
        return cls(vocab_size, n_words, max_tokens, **{k: cfg[k] for k in keys})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)
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
        self.head = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.LayerNorm(cfg.dim))
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

    def word_logits(self, states: torch.Tensor) -> torch.Tensor:
        return F.linear(self.head(states), self.output_weight(), self.words.bias)

    def forward(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Word log-probabilities at ``positions`` (B, M) of the masks: (B, M, n_words)."""
        states = self.encode(ids)
        picked = torch.gather(states, 1, positions[..., None].expand(-1, -1, states.shape[-1]))
        return torch.log_softmax(self.word_logits(picked), dim=-1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
