"""The served predictor, torch-free: tokenizer + ONNX transformer, optionally combined with the
trigram model, as evaluation scores it and the API serves it.

Combination (documented in the model card): a log-linear mixture, log p = (1 - w) log p_transformer
+ w log p_trigram, renormalised over predictable words; ``w`` is chosen on the dev split at training
time and stored in the model's metadata (0 means the transformer alone).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from farga.fillmask.ngram import NGRAM_FILE, NgramModel, context
from farga.fillmask.text import MASK
from farga.fillmask.vocab import TOKENIZER_FILE, WORDS_FILE, SubwordCache, WordVocab
from farga.onnx_runtime import OnnxModel, Precision, PrecisionChoice, model_file

METADATA_KEY = "farga.fillmask"


class TooLongError(ValueError):
    """A sentence has more subword tokens than the model reads."""

    def __init__(self, n_tokens: int, limit: int, at_least: bool = False):
        self.n_tokens, self.limit = n_tokens, limit
        self.length = f"{'at least ' if at_least else ''}{n_tokens} subword tokens"
        super().__init__(f"{self.length}; this model reads at most {limit}")


def normalise(log_probs: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    scores = np.where(allowed, log_probs, -np.inf)
    return scores - np.logaddexp.reduce(scores, axis=-1, keepdims=True)


@dataclass
class Predictor:
    onnx: OnnxModel
    cache: SubwordCache
    vocab: WordVocab
    ngram: NgramModel | None
    settings: dict[str, Any]  # max_tokens, ngram_weight

    @classmethod
    def load(cls, model_dir: Path, threads: int = 1, precision: PrecisionChoice = "int8") -> Predictor:
        from tokenizers import Tokenizer

        onnx = OnnxModel.load(model_dir, threads=threads, precision=precision)
        meta = onnx.session.get_modelmeta().custom_metadata_map
        settings = json.loads(meta.get(METADATA_KEY, "{}"))
        vocab = WordVocab.load(model_file(model_dir, WORDS_FILE).parent)
        ngram: NgramModel | None = None
        try:
            ngram = NgramModel.load(model_file(model_dir, NGRAM_FILE))
        except FileNotFoundError:
            if float(settings.get("ngram_weight", 0.0)) > 0:
                raise  # the served mixture needs its trigram: refused, never served degraded
        tokenizer = Tokenizer.from_file(str(model_file(model_dir, TOKENIZER_FILE)))
        # the cache holds the model's own words, encoded once at load; it never grows with requests
        cache = SubwordCache(tokenizer, limit=len(vocab.words) + 1, grow=False)
        cache.warm(vocab.words)
        return cls(onnx, cache, vocab, ngram, settings)

    @property
    def provenance(self) -> dict[str, Any]:
        return self.onnx.provenance

    @property
    def precision(self) -> Precision:
        return self.onnx.precision

    @property
    def max_tokens(self) -> int:
        return int(self.settings["max_tokens"])

    @property
    def ngram_weight(self) -> float:
        return float(self.settings.get("ngram_weight", 0.0)) if self.ngram is not None else 0.0

    def n_tokens_of(self, word: str) -> int:
        return len(self.cache(word))

    def transformer(self, sentences: Sequence[Sequence[str]], batch: int = 64) -> list[np.ndarray]:
        """Per sentence, (masks, n_words) log-probabilities of each ``<mask>``'s word."""
        allowed = self.vocab.predictable
        out: list[np.ndarray] = []
        for start in range(0, len(sentences), batch):
            chunk = sentences[start : start + batch]
            rows = []
            for words in chunk:
                if len(words) > self.max_tokens:  # every word is at least one token: refused unread
                    raise TooLongError(len(words), self.max_tokens, at_least=True)
                ids: list[int] = []
                positions = []
                for w in words:
                    if w == MASK:
                        positions.append(len(ids))
                    ids.extend(self.cache(w))
                if len(ids) > self.max_tokens:
                    raise TooLongError(len(ids), self.max_tokens)
                rows.append((ids, positions))
            t = max(len(r[0]) for r in rows)
            m = max(len(r[1]) for r in rows)
            ids_arr = np.zeros((len(rows), t), dtype=np.int64)
            pos_arr = np.zeros((len(rows), m), dtype=np.int64)
            for b, (ids, positions) in enumerate(rows):
                ids_arr[b, : len(ids)] = ids
                pos_arr[b, : len(positions)] = positions
            result = self.onnx.run({"input_ids": ids_arr, "mask_positions": pos_arr})["log_probs"]
            out.extend(normalise(result[b, : len(r[1])], allowed) for b, r in enumerate(rows))
        return out

    def trigram(self, words: Sequence[str]) -> np.ndarray:
        """(masks, n_words) trigram log-probabilities; another mask in the context reads as <unk>."""
        assert self.ngram is not None
        ids = self.vocab.ids(words).tolist()
        positions = [i for i, w in enumerate(words) if w == MASK]
        return self.ngram.log_probs([context(ids, p) for p in positions], self.vocab.predictable)

    def log_probs(self, sentences: Sequence[Sequence[str]], ngram_weight: float | None = None) -> list[np.ndarray]:
        """The served distribution per mask: the transformer's, mixed with the trigram's by the weight."""
        weight = self.ngram_weight if ngram_weight is None else ngram_weight
        neural = self.transformer(sentences)
        if weight <= 0:
            return neural
        return [self.mix(lp, self.trigram(words), weight) for words, lp in zip(sentences, neural, strict=True)]

    def mix(self, neural: np.ndarray, trigram: np.ndarray, weight: float) -> np.ndarray:
        if weight <= 0:
            return neural
        with np.errstate(invalid="ignore"):
            return normalise((1 - weight) * neural + weight * trigram, self.vocab.predictable)

    def candidates(self, log_probs: np.ndarray, k: int) -> list[dict[str, Any]]:
        best = np.argsort(-log_probs)[:k]
        return [{"token": self.vocab.display[i], "score": float(np.exp(log_probs[i]))} for i in best]
