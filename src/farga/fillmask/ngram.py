"""The baselines the transformer must beat: unigram frequency and a bidirectional trigram model.

The trigram model is an interpolated absolute-discounting language model; a masked word ``w``
between left context ``a b`` and right context ``c d`` is scored by the probability of the whole
window, P(w | a b) P(c | b w) P(d | w c), normalised over the word vocabulary. Everything is
numpy arrays (sorted keys + counts, looked up by binary search), so it serves without torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NGRAM_FILE = "ngram.npz"
BOS, EOS = 1, 2  # word-vocabulary ids (vocab.BOS, vocab.EOS)
_B = np.int64(16)  # bits per word id in packed keys: vocabularies stay under 65,536 words


def _pack(*ids: np.ndarray) -> np.ndarray:
    key = np.zeros(len(ids[0]), dtype=np.int64)
    for part in ids:
        key = (key << _B) | part.astype(np.int64)
    return key


def _unpack(key: np.ndarray, n: int) -> list[np.ndarray]:
    mask = np.int64((1 << 16) - 1)
    return [((key >> (_B * (n - 1 - i))) & mask) for i in range(n)]


@dataclass
class Table:
    """Packed keys, sorted, with a value column; ``range`` finds every key with a given prefix."""

    keys: np.ndarray
    values: np.ndarray

    @classmethod
    def sorted_by(cls, key: np.ndarray, values: np.ndarray) -> Table:
        order = np.argsort(key, kind="stable")
        return cls(key[order], values[order])

    def range(self, prefix: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(last ``width`` bits of the key: the free word id, values) for keys starting with ``prefix``."""
        lo = np.searchsorted(self.keys, np.int64(prefix) << (_B * width))
        hi = np.searchsorted(self.keys, np.int64(prefix + 1) << (_B * width))
        return self.keys[lo:hi] & np.int64((1 << (16 * width)) - 1), self.values[lo:hi]


class NgramModel:
    """Bidirectional trigram scorer over a word vocabulary of ``n_words`` ids."""

    def __init__(self, arrays: dict[str, np.ndarray], discount: float):
        self.a = arrays
        self.d = discount
        self.n_words = len(arrays["unigram"])
        uni = arrays["unigram"].astype(np.float64)
        self.p1: np.ndarray = (uni + 1) / (uni.sum() + self.n_words)
        self.tables = {
            name: Table(arrays[f"{name}_keys"], arrays[f"{name}_values"])
            for name in ("bi_hx", "bi_xh", "tri_ghx", "tri_gxh", "tri_hxg", "hist_gh", "hist_hg")
        }

    @classmethod
    def fit(cls, sentences: Iterable[np.ndarray], n_words: int, discount: float) -> NgramModel:
        if n_words > 1 << 16:
            raise ValueError(f"the n-gram model packs word ids in 16 bits; {n_words} words is too many")
        seqs = [np.concatenate([[BOS, BOS], s, [EOS, EOS]]).astype(np.int64) for s in sentences]
        flat = np.concatenate(seqs)
        starts = np.cumsum([0] + [len(s) for s in seqs[:-1]])
        lengths = np.array([len(s) for s in seqs])
        # windows that stay inside one padded sentence
        tri_i = np.concatenate([np.arange(s, s + n - 2) for s, n in zip(starts, lengths, strict=True)])
        bi_i = np.concatenate([np.arange(s, s + n - 1) for s, n in zip(starts, lengths, strict=True)])
        tri, tri_n = np.unique(_pack(flat[tri_i], flat[tri_i + 1], flat[tri_i + 2]), return_counts=True)
        bi, bi_n = np.unique(_pack(flat[bi_i], flat[bi_i + 1]), return_counts=True)
        unigram = np.bincount(flat, minlength=n_words)
        unigram[BOS] = 0
        g, h, x = _unpack(tri, 3)
        bh, bx = _unpack(bi, 2)
        hist, inverse = np.unique(_pack(g, h), return_inverse=True)
        hist_count = np.bincount(inverse, weights=tri_n).astype(np.int64)
        hist_types = np.bincount(inverse).astype(np.int64)
        hg, hh = _unpack(hist, 2)
        bi_hist = np.bincount(bh, weights=bi_n, minlength=n_words).astype(np.int64)
        bi_types = np.bincount(bh, minlength=n_words).astype(np.int64)
        hist_values = hist_count << 32 | hist_types
        arrays = {
            "unigram": unigram.astype(np.int64),
            "bi_hist": bi_hist,
            "bi_types": bi_types,
        }
        for name, key, values in (
            ("bi_hx", _pack(bh, bx), bi_n),
            ("bi_xh", _pack(bx, bh), bi_n),
            ("tri_ghx", tri, tri_n),
            ("tri_gxh", _pack(g, x, h), tri_n),
            ("tri_hxg", _pack(h, x, g), tri_n),
            ("hist_gh", _pack(hg, hh), hist_values),
            ("hist_hg", _pack(hh, hg), hist_values),
        ):
            table = Table.sorted_by(key, values.astype(np.int64))
            arrays[f"{name}_keys"], arrays[f"{name}_values"] = table.keys, table.values
        return cls(arrays, discount)

    def save(self, path: Path) -> Path:
        np.savez_compressed(path, allow_pickle=False, discount=np.array(self.d), **self.a)
        return path

    @classmethod
    def load(cls, path: Path) -> NgramModel:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if k != "discount"}
            return cls(arrays, float(data["discount"]))

    # -- probabilities ---------------------------------------------------------------------------
    def _p2_given(self, h: int) -> np.ndarray:
        """P2(x | h) for every x."""
        total = self.a["bi_hist"][h]
        if total == 0:
            return self.p1.copy()
        p: np.ndarray = self.d * self.a["bi_types"][h] * self.p1 / total
        x, n = self.tables["bi_hx"].range(h, 1)
        p[x] += np.maximum(n - self.d, 0) / total
        return p

    def _p2_of(self, x: int) -> np.ndarray:
        """P2(x | w) for every history w."""
        total, types = self.a["bi_hist"], self.a["bi_types"]
        w, n = self.tables["bi_xh"].range(x, 1)
        seen = np.zeros(self.n_words)
        seen[w] = np.maximum(n - self.d, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = (seen + self.d * types * self.p1[x]) / total
        out: np.ndarray = np.where(total > 0, p, self.p1[x])
        return out

    def _p3(
        self, hist: tuple[np.ndarray, np.ndarray], seen: tuple[np.ndarray, np.ndarray], lower: np.ndarray
    ) -> np.ndarray:
        """Interpolate ``lower`` (over w) with trigram counts ``seen`` (w ids, counts), histories ``hist``."""
        w_hist, packed = hist
        total = np.zeros(self.n_words)
        types = np.zeros(self.n_words)
        total[w_hist] = packed >> 32
        types[w_hist] = packed & np.int64(0xFFFFFFFF)
        counts = np.zeros(self.n_words)
        counts[seen[0]] = np.maximum(seen[1] - self.d, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = (counts + self.d * types * lower) / total
        return np.where(total > 0, p, lower)

    def _key(self, *ids: int) -> int:
        return int(_pack(*(np.array([i]) for i in ids))[0])

    def _history(self, g: int, h: int) -> tuple[int, int]:
        """(count, distinct followers) of the history ``g h``."""
        _, found = self.tables["hist_gh"].range(self._key(g, h), 0)
        packed = int(found[0]) if len(found) else 0
        return packed >> 32, packed & 0xFFFFFFFF

    def _p2(self, x: int, h: int) -> float:
        """P2(x | h) for one word: what ``_p2_given(h)[x]`` holds, without the other 40,000."""
        total = int(self.a["bi_hist"][h])
        if total == 0:
            return float(self.p1[x])
        _, seen = self.tables["bi_hx"].range(self._key(h, x), 0)
        count = float(seen[0]) if len(seen) else 0.0
        return float(self.d * self.a["bi_types"][h] * self.p1[x] / total + max(count - self.d, 0.0) / total)

    def window_scores(self, a: int, b: int, c: int, d: int) -> np.ndarray:
        """log P(w | a b) + log P(c | b w) + log P(d | w c), for every word w."""
        t = self.tables
        left = self._p2_given(b)
        total, types = self._history(a, b)
        if total:
            left = self.d * types * left / total
            x, n = t["tri_ghx"].range(self._key(a, b), 1)
            left[x] += np.maximum(n - self.d, 0) / total
        middle = self._p3(t["hist_gh"].range(b, 1), t["tri_gxh"].range(self._key(b, c), 1), self._p2_of(c))
        d_after_c = np.full(self.n_words, self._p2(d, c))
        right = self._p3(t["hist_hg"].range(c, 1), t["tri_hxg"].range(self._key(c, d), 1), d_after_c)
        with np.errstate(divide="ignore"):
            scores: np.ndarray = np.log(left) + np.log(middle) + np.log(right)
        return scores

    def log_probs(self, contexts: Sequence[tuple[int, int, int, int]], allowed: np.ndarray) -> np.ndarray:
        """(N, n_words) log-probabilities of the masked word, normalised over ``allowed`` words."""
        out = np.full((len(contexts), self.n_words), -np.inf)
        for i, ctx in enumerate(contexts):
            scores = np.where(allowed, self.window_scores(*ctx), -np.inf)
            out[i] = scores - np.logaddexp.reduce(scores[allowed])
        return out

    def unigram_log_probs(self, allowed: np.ndarray) -> np.ndarray:
        p = np.where(allowed, self.p1, 0.0)
        with np.errstate(divide="ignore"):
            out: np.ndarray = np.log(p / p.sum())
        return out


def context(ids: Sequence[int], position: int) -> tuple[int, int, int, int]:
    """The two words either side of ``position`` in a sentence of word ids (boundaries padded)."""
    padded = [BOS, BOS, *ids, EOS, EOS]
    i = position + 2
    return padded[i - 2], padded[i - 1], padded[i + 1], padded[i + 2]
