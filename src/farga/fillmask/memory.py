"""The network's word-pair memory: for each word it predicts, which hashed contexts to look up.

The trigram beats the transformer on rare words because it remembers exact contexts, and three
passes over the corpus are too few for the network to do so in its weights. So the network also
reads three learned vectors per predicted word, looked up by the hash of a pair of words around it:
its two neighbours (``b _ c``), the two before (``a b _``) and the two after (``_ c d``), the
contexts the trigram counts (hashed n-gram embeddings as in N-Grammer, Roy et al., 2022). A lookup
multiplies nothing, so a large memory hardly slows a step. numpy only: the served predictor
computes the same ids from a user's sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from farga.fillmask.ngram import BOS, EOS

KINDS = 3  # (b, c) the neighbours, (a, b) before, (c, d) after
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads packed keys over the buckets


def check_buckets(buckets: int) -> int:
    if buckets and (buckets < 2 or buckets & (buckets - 1)):
        raise ValueError(f"train.model.memory must be 0 (none) or a power of two of at least 2, got {buckets}")
    return buckets


def pair_ids(
    word_ids: np.ndarray, positions: np.ndarray | list[int], buckets: int, unread: Sequence[int] = ()
) -> np.ndarray:
    """(M, KINDS) bucket ids for the words at ``positions`` of a sentence of word-vocabulary ids.
    A word the model must not read reads as 0, ``<unk>``: ``unread`` positions, as a user's other
    masks already are; past the edges, <s> and </s>."""
    at = np.asarray(positions, dtype=np.int64) + 2
    if not buckets or not len(at):
        return np.zeros((len(at), KINDS), dtype=np.int64)
    padded = np.concatenate([[BOS, BOS], np.asarray(word_ids, dtype=np.int64), [EOS, EOS]])
    padded[np.asarray(unread, dtype=np.int64) + 2] = 0
    a, b, c, d = padded[at - 2], padded[at - 1], padded[at + 1], padded[at + 2]
    kinds = np.arange(KINDS, dtype=np.int64)[None, :]
    first, second = np.stack([b, a, c], axis=1), np.stack([c, b, d], axis=1)
    key = ((kinds << 32) | (first << 16) | second).astype(np.uint64)
    bits = np.uint64(64 - int(buckets).bit_length() + 1)
    ids: np.ndarray = ((key * _GOLDEN) >> bits).astype(np.int64)
    return ids
