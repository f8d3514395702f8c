"""The two vocabularies: subword tokens for the input (a Hugging Face ``tokenizers`` WordPiece or BPE
model trained on the training split) and whole words for the output (the words the model and the
n-gram baseline can predict; rarer ones are ``<unk>``, never predicted and always scored wrong).

Both are saved beside the model (``tokenizer.json``, ``words.json``) and need no torch to load.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from farga.fillmask.text import FUNCTION_WORDS, MASK, is_word

SPECIAL_TOKENS = ["[PAD]", "[UNK]", MASK]  # ids 0, 1, 2: model.PAD, UNK, MASK
UNK_WORD, BOS, EOS = "<unk>", "<s>", "</s>"
TOKENIZER_FILE, WORDS_FILE = "tokenizer.json", "words.json"


def train_tokenizer(sentences: Iterable[Sequence[str]], kind: str, vocab_size: int) -> Any:
    """Sentences are already split into words (``text.split``): the tokenizer only splits words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS[1]))
        trainer: Any = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False
        )
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS[1]))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    else:
        raise ValueError(f"train.tokenizer.kind must be wordpiece or bpe, got {kind!r}")
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.train_from_iterator((" ".join(words) for words in sentences), trainer=trainer)
    return tokenizer


class SubwordCache:
    """word -> subword ids, each distinct word encoded once (sentences repeat words a lot).

    At most ``limit`` words are kept. ``grow=False`` (the service) keeps only what ``warm`` put
    there (the model's own vocabulary, at load): what users type is encoded per request and never
    kept, so no sequence of requests can make a worker's cache, or its memory, grow."""

    def __init__(self, tokenizer: Any, limit: int = 500_000, grow: bool = True):
        self.tokenizer = tokenizer
        self.limit = limit
        self.grow = grow
        self.cache: dict[str, list[int]] = {MASK: [SPECIAL_TOKENS.index(MASK)]}

    def encode(self, words: list[str]) -> list[list[int]]:
        unknown = SPECIAL_TOKENS.index("[UNK]")
        return [enc.ids or [unknown] for enc in self.tokenizer.encode_batch(words, add_special_tokens=False)]

    def warm(self, words: Iterable[str]) -> None:
        new = sorted({w for w in words if w not in self.cache})[: max(self.limit - len(self.cache), 0)]
        self.cache.update(zip(new, self.encode(new), strict=True))

    def __call__(self, word: str) -> list[int]:
        if self.grow and word not in self.cache:
            self.warm([word])
        return self.cache[word] if word in self.cache else self.encode([word])[0]


@dataclass(frozen=True)
class WordVocab:
    words: list[str]  # index -> lower-cased word; 0 <unk>, 1 <s>, 2 </s>
    display: list[str]  # index -> its most common spelling in the training text
    counts: np.ndarray  # training frequency

    @classmethod
    def build(cls, cased_sentences: Iterable[Sequence[str]], max_size: int, min_count: int) -> WordVocab:
        spellings: Counter[str] = Counter()
        for words in cased_sentences:
            spellings.update(words)
        counts: Counter[str] = Counter()
        best: dict[str, tuple[int, str]] = {}
        for spelling, n in spellings.items():
            low = spelling.lower()
            counts[low] += n
            if n > best.get(low, (0, ""))[0]:
                best[low] = (n, spelling)
        kept = [(w, n) for w, n in counts.most_common(max_size - 3) if n >= min_count]
        words = [UNK_WORD, BOS, EOS] + [w for w, _ in kept]
        display = [UNK_WORD, BOS, EOS] + [best[w][1] for w, _ in kept]
        total_unk = sum(counts.values()) - sum(n for _, n in kept)
        return cls(words, display, np.array([total_unk, 0, 0] + [n for _, n in kept], dtype=np.int64))

    @cached_property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def ids(self, words: Sequence[str]) -> np.ndarray:
        index = self.index
        return np.fromiter((index.get(w, 0) for w in words), dtype=np.int64, count=len(words))

    @cached_property
    def predictable(self) -> np.ndarray:
        """Which outputs may be offered as a prediction: words, not <unk>, boundaries or punctuation."""
        return np.array([i > 2 and is_word(w) for i, w in enumerate(self.words)])

    @cached_property
    def function_word(self) -> np.ndarray:
        return np.array([w in FUNCTION_WORDS for w in self.words])

    def save(self, model_dir: Path) -> Path:
        path = model_dir / WORDS_FILE
        payload = {"words": self.words, "display": self.display, "counts": self.counts.tolist()}
        path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, model_dir: Path) -> WordVocab:
        payload = json.loads((model_dir / WORDS_FILE).read_text(encoding="utf-8"))
        return cls(payload["words"], payload["display"], np.asarray(payload["counts"], dtype=np.int64))
