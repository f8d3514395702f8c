"""The symbols CNN: small enough for two CPU cores, plain PyTorch, readable in one sitting.

Stages of 3x3 conv + batch-norm + ReLU, each stage ending in a 2x2 max-pool (32 -> 16 -> 8 -> 4),
then a fully connected head. Channels-last memory layout roughly halves CPU training time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from farga.symbols.params import Network


@dataclass(frozen=True)
class CNNConfig:
    n_classes: int
    channels: tuple[int, ...] = (32, 64, 128)
    convs_per_stage: tuple[int, ...] = (1, 1, 2)
    hidden: int = 512
    dropout: float = 0.3
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_params(cls, n_classes: int, params: Network) -> CNNConfig:
        channels, convs = tuple(params.channels), tuple(params.convs_per_stage)
        if len(channels) != len(convs):
            raise ValueError("model.channels and model.convs_per_stage must have the same length")
        return cls(n_classes, channels, convs, params.hidden, params.dropout)


def conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class SymbolCNN(nn.Module):
    def __init__(self, cfg: CNNConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = 1
        for c_out, n in zip(cfg.channels, cfg.convs_per_stage, strict=True):
            for _ in range(n):
                layers += conv_bn_relu(c_in, c_out)
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = 32 // 2 ** len(cfg.channels)
        self.embed = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(cfg.dropout),
            nn.Linear(c_in * side * side, cfg.hidden, bias=False),
            nn.BatchNorm1d(cfg.hidden),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, cfg.n_classes))

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: what drift detection and nearest-neighbour checks compare."""
        out: torch.Tensor = self.embed(self.features(x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.embedding(x))
        return logits


class Joined(nn.Module):
    """Specialists as one network, the shape the export expects: the embedding is theirs side by
    side, the head the weighted sum of their log-probabilities (a weighted geometric mean once the
    served softmax normalises it)."""

    def __init__(self, networks: list[SymbolCNN], weights: list[float]):
        super().__init__()
        self.networks = nn.ModuleList(networks)
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))
        self.sizes = [n.cfg.hidden for n in networks]

    @property
    def members(self) -> list[SymbolCNN]:
        return cast(list[SymbolCNN], list(self.networks))

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([n.embedding(x) for n in self.members], dim=1)

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        parts = torch.split(embedding, self.sizes, dim=1)
        scores = [torch.log_softmax(n.head(e), dim=1) for n, e in zip(self.members, parts, strict=True)]
        weights = cast(torch.Tensor, self.weights)
        out: torch.Tensor = (torch.stack(scores) * weights[:, None, None]).sum(0)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
