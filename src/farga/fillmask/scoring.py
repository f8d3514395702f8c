"""How masked-word prediction is scored: which words are masked, and what counts as right.

One word per sentence (more where a study asks), drawn with a seed among its words (never
punctuation), so every model is scored on the same positions. A prediction is right when it equals
the hidden word lower-cased; a hidden word outside the word vocabulary is a miss for every model.
Perplexity is over the words inside the vocabulary, each model's distribution normalised over the
same predictable words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from farga.fillmask.text import MASK, is_word, split
from farga.fillmask.vocab import WordVocab

BANDS = ((0, 100, "top_100"), (100, 1000, "100_1k"), (1000, 10000, "1k_10k"), (10000, 1 << 30, "beyond_10k"))


@dataclass(frozen=True)
class Example:
    words: list[str]  # the sentence, split and lower-cased
    position: int  # the masked word
    line: int = -1  # which of the lines given to ``examples`` it comes from

    @property
    def target(self) -> str:
        return self.words[self.position]

    @property
    def masked(self) -> list[str]:
        return [MASK if i == self.position else w for i, w in enumerate(self.words)]

    def clipped(self, cost: Callable[[str], int], max_tokens: int) -> Example:
        """The words around the mask that fit ``max_tokens`` (grown one word each side in turn)."""
        left, right, used = self.position, self.position + 1, 1
        grew = True
        while grew:
            grew = False
            if right < len(self.words) and used + cost(self.words[right]) <= max_tokens:
                used, right, grew = used + cost(self.words[right]), right + 1, True
            if left > 0 and used + cost(self.words[left - 1]) <= max_tokens:
                used, left, grew = used + cost(self.words[left - 1]), left - 1, True
        return Example(self.words[left:right], self.position - left, self.line)


def examples(lines: Sequence[str], n: int, seed: int, per_line: int = 1) -> list[Example]:
    """``per_line`` words of each of ``n`` lines, drawn with a seed (a line with fewer gives them all)."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(lines), size=min(n, len(lines)), replace=False)
    out = []
    for i in sorted(picked.tolist()):
        words = split(lines[i])
        candidates = [j for j, w in enumerate(words) if is_word(w)]
        if not candidates:
            continue
        if per_line == 1:  # the evaluation's draw, kept as it was so its words stay the same
            out.append(Example(words, int(rng.choice(candidates)), i))
        else:
            chosen = rng.choice(candidates, size=min(per_line, len(candidates)), replace=False)
            out.extend(Example(words, int(j), i) for j in sorted(chosen.tolist()))
    return out


def top_k(log_probs: np.ndarray, k: int) -> np.ndarray:
    """(N, k) word ids, best first."""
    k = min(k, log_probs.shape[1])
    part = np.argpartition(-log_probs, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(log_probs, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def hits(log_probs: np.ndarray, targets: np.ndarray, k: int = 5) -> np.ndarray:
    """(N, 2) per example: is the hidden word the first guess, is it among the first ``k``
    (a word outside the vocabulary, id 0, never is)."""
    top = top_k(log_probs, k)
    known = targets > 0
    return np.stack([(top[:, 0] == targets) & known, (top == targets[:, None]).any(axis=1) & known], axis=1)


def accuracy(log_probs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    right = hits(log_probs, targets)
    known = targets > 0
    picked = log_probs[np.arange(len(targets)), targets]
    return {
        "top1": float(right[:, 0].mean()),
        "top5": float(right[:, 1].mean()),
        "perplexity": float(np.exp(-picked[known].mean())) if known.any() else float("nan"),
        "n": len(targets),
    }


def slices(targets: np.ndarray, vocab: WordVocab) -> dict[str, dict[str, np.ndarray]]:
    """Boolean masks of the examples: by word class and by training-frequency band of the hidden word."""
    function = vocab.function_word[targets] & (targets > 0)
    rank = np.empty(len(vocab.words), dtype=np.int64)
    rank[np.argsort(-vocab.counts[3:], kind="stable") + 3] = np.arange(len(vocab.words) - 3)
    rank[:3] = -1
    target_rank = rank[targets]
    bands = {name: (targets > 0) & (target_rank >= lo) & (target_rank < hi) for lo, hi, name in BANDS}
    bands["out_of_vocabulary"] = targets == 0
    return {"by_class": {"function": function, "content": ~function}, "by_frequency": bands}


def groups_of(labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Boolean masks of the examples, one per distinct label (a slice family from any per-example
    attribute, such as the genre of the line a word was hidden in)."""
    values = np.asarray(labels)
    return {name: values == name for name in sorted(set(labels))}


def report(
    log_probs: np.ndarray,
    targets: np.ndarray,
    vocab: WordVocab,
    extra: dict[str, dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Overall accuracy and perplexity, and the same on every slice (with its share of the examples):
    by word class, by frequency band, and the ``extra`` families given."""
    out: dict[str, Any] = accuracy(log_probs, targets)
    for family, groups in (slices(targets, vocab) | (extra or {})).items():
        out[family] = {
            name: {**accuracy(log_probs[m], targets[m]), "share": float(m.mean())}
            for name, m in groups.items()
            if m.any()
        }
    return out
