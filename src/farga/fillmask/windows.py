"""Sentences as training windows, and batches of whole words to predict.

A window is a run of whole words whose subword tokens fit ``max_tokens``. Each batch masks a share
of the maskable words of each window (whole-word masking: a masked word becomes one ``<mask>`` token
whatever its length in subwords) and picks the words to predict, each given as its token span and
its id in the word vocabulary.
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


def encode(pieces: Sequence[list[int]], masked: Sequence[int]) -> tuple[list[int], list[tuple[int, int]]]:
    """(subword ids with each masked word collapsed to <mask>, each word's token span [start, end))."""
    ids: list[int] = []
    spans: list[tuple[int, int]] = []
    chosen = set(masked)
    for i, piece in enumerate(pieces):
        start = len(ids)
        ids.extend([MASK] if i in chosen else piece)
        spans.append((start, len(ids)))
    return ids, spans


# ids, the predicted words' spans, their targets
Row = tuple[list[int], list[tuple[int, int]], list[int]]
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def collate(rows: list[Row]) -> Batch:
    """rows -> padded ids (B, T), span starts and ends (B, M), targets (B, M; -100 where padded)."""
    t = max(len(r[0]) for r in rows)
    m = max(len(r[1]) for r in rows)
    ids = torch.full((len(rows), t), PAD, dtype=torch.long)
    spans = torch.zeros((len(rows), m, 2), dtype=torch.long)
    spans[..., 1] = 1
    targets = torch.full((len(rows), m), -100, dtype=torch.long)
    for b, (row_ids, row_spans, row_tgt) in enumerate(rows):
        ids[b, : len(row_ids)] = torch.tensor(row_ids)
        if row_spans:
            spans[b, : len(row_spans)] = torch.tensor(row_spans)
        targets[b, : len(row_tgt)] = torch.tensor(row_tgt)
    return ids, spans[..., 0], spans[..., 1], targets


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


def pick(window: Window, fraction: float, rng: np.random.Generator) -> list[int]:
    k = max(1, round(fraction * len(window.pieces)))
    return sorted(rng.choice(window.maskable, size=min(k, len(window.maskable)), replace=False).tolist())


def batch_rows(
    data: list[Window],
    batch_tokens: int,
    mask_fraction: float,
    rng: np.random.Generator,
    predict_fraction: float | None = None,
) -> Iterator[list[Row]]:
    """One epoch: windows of similar length batched together (little padding), batches in random order.

    Without ``predict_fraction`` (mlm) the masked words are the ones predicted. With it (cloze) that
    share of the words is predicted from their clean neighbours, and ``mask_fraction`` of the words
    read as ``<mask>`` only so that a sentence with several masks is nothing new. Every draw comes
    from ``rng``, so workers with the same generator agree on every batch and can split its rows."""
    groups = length_groups(data, batch_tokens, rng)
    for g in rng.permutation(len(groups)):
        rows: list[Row] = []
        for index in groups[g]:
            window = data[index]
            masked = pick(window, mask_fraction, rng) if mask_fraction > 0 else []
            predicted = masked if predict_fraction is None else pick(window, predict_fraction, rng)
            ids, spans = encode(window.pieces, masked)
            rows.append((ids, [spans[i] for i in predicted], window.targets[predicted].tolist()))
        yield rows


def batches(
    data: list[Window],
    batch_tokens: int,
    mask_fraction: float,
    rng: np.random.Generator,
    predict_fraction: float | None = None,
) -> Iterator[Batch]:
    """``batch_rows``, collated."""
    for rows in batch_rows(data, batch_tokens, mask_fraction, rng, predict_fraction):
        yield collate(rows)
