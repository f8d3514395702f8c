"""Sentences as training windows and batches with whole-word masking.

A window is a run of whole words whose subword tokens fit ``max_tokens``. Each batch masks a share
of the maskable words of each window; a masked word becomes one ``<mask>`` token whatever its
length in subwords, and its target is its id in the word vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from farga.fillmask.model import MASK, PAD
from farga.fillmask.text import is_word, split
from farga.fillmask.vocab import SubwordCache, WordVocab


@dataclass
class Window:
    pieces: list[list[int]]  # subword ids of each word
    targets: np.ndarray  # word-vocabulary id of each word (0: <unk>)
    maskable: np.ndarray  # indices of the words that may be masked (known words, not punctuation)

    @property
    def n_tokens(self) -> int:
        return sum(len(p) for p in self.pieces)


def windows(lines: Sequence[str], cache: SubwordCache, vocab: WordVocab, max_tokens: int) -> list[Window]:
    sentences = [split(line) for line in lines]
    cache.warm(w for words in sentences for w in words)
    out = []
    for words in sentences:
        start = 0
        while start < len(words):
            end, used = start, 0
            while end < len(words) and used + len(cache(words[end])) <= max_tokens:
                used += len(cache(words[end]))
                end += 1
            end = max(end, start + 1)  # a single word longer than the window is cut below
            chunk = words[start:end]
            targets = vocab.ids(chunk)
            maskable = np.array([i for i, w in enumerate(chunk) if targets[i] > 0 and is_word(w)], dtype=np.int64)
            pieces = [cache(w)[:max_tokens] for w in chunk]
            if len(maskable):
                out.append(Window(pieces, targets, maskable))
            start = end
    return out


def encode(pieces: Sequence[list[int]], masked: Sequence[int]) -> tuple[list[int], list[int]]:
    """(subword ids with each masked word collapsed to <mask>, the masks' token positions)."""
    ids: list[int] = []
    positions: list[int] = []
    chosen = set(masked)
    for i, piece in enumerate(pieces):
        if i in chosen:
            positions.append(len(ids))
            ids.append(MASK)
        else:
            ids.extend(piece)
    return ids, positions


def collate(rows: list[tuple[list[int], list[int], list[int]]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """rows of (ids, mask positions, targets) -> padded ids (B, T), positions (B, M), targets (B, M; -100 pad)."""
    t = max(len(r[0]) for r in rows)
    m = max(len(r[1]) for r in rows)
    ids = torch.full((len(rows), t), PAD, dtype=torch.long)
    positions = torch.zeros((len(rows), m), dtype=torch.long)
    targets = torch.full((len(rows), m), -100, dtype=torch.long)
    for b, (row_ids, row_pos, row_tgt) in enumerate(rows):
        ids[b, : len(row_ids)] = torch.tensor(row_ids)
        positions[b, : len(row_pos)] = torch.tensor(row_pos)
        targets[b, : len(row_tgt)] = torch.tensor(row_tgt)
    return ids, positions, targets


def length_groups(data: list[Window], batch_tokens: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Window indices in groups of similar length that fit ``batch_tokens`` padded (the batches of an
    epoch, shuffled within a length; how many there are does not depend on the shuffle)."""
    lengths = np.array([w.n_tokens for w in data])
    order = np.argsort(lengths + rng.random(len(data)))
    ordered = lengths[order]
    groups: list[np.ndarray] = []
    start = 0
    while start < len(order):
        size = max(1, batch_tokens // max(int(ordered[start]), 1))
        # windows are sorted, so the last in the group is the longest: shrink until the group fits
        while size > 1 and ordered[min(start + size, len(order)) - 1] * size > batch_tokens:
            size = max(1, int(size * 0.9))
        groups.append(order[start : start + size])
        start += size
    return groups


def batches(
    data: list[Window], batch_tokens: int, mask_fraction: float, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch: windows of similar length batched together (little padding), batches in random order."""
    groups = length_groups(data, batch_tokens, rng)
    for g in rng.permutation(len(groups)):
        rows = []
        for index in groups[g]:
            window = data[index]
            k = max(1, round(mask_fraction * len(window.pieces)))
            masked = sorted(rng.choice(window.maskable, size=min(k, len(window.maskable)), replace=False).tolist())
            ids, positions = encode(window.pieces, masked)
            rows.append((ids, positions, window.targets[masked].tolist()))
        yield collate(rows)
