"""Can a character tagger restore the accents of words the corpus never showed? (issue 33)

tools/accents_model_study.py found that word-context counts settle ambiguous words (2.11% error
against the anchor's 7.29%) and that words never seen in training carry half the remaining error:
ending rules leave 9.30% of them wrong. This study trains a small character tagger on the training
sources' word types (a diacritic per letter: none, grave, acute, diaeresis, cedilla...; a
bidirectional LSTM over the stripped letters) and scores it on those unseen words of the held-out
dev lines, beside the ending rules, then the whole system (context counts for seen words, the tagger
for the rest) against the anchor.

    .venv/bin/python tools/accents_char_tagger_study.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import time
import unicodedata
from collections import Counter
from pathlib import Path

import torch
from accents_model_study import Counts, corpus, strip
from torch import nn

from farga import components
from farga.config import Settings

NONE = ""
CONFIDENCES = (0.5, 0.8, 0.9, 0.95, 0.98)


def marks(word: str) -> list[str]:
    """The combining marks on each letter of ``word`` (NFD), one string per letter."""
    out: list[str] = []
    for c in unicodedata.normalize("NFD", word):
        if unicodedata.category(c) == "Mn" and out:
            out[-1] += c
        else:
            out.append(NONE)
    return out


def apply(stripped: str, tags: list[str]) -> str:
    return unicodedata.normalize("NFC", "".join(c + m for c, m in zip(stripped, tags, strict=True)))


class Tagger(nn.Module):
    def __init__(self, letters: int, classes: int, dim: int = 64, hidden: int = 128):
        super().__init__()
        self.embed = nn.Embedding(letters, dim, padding_idx=0)
        self.rnn = nn.LSTM(dim, hidden, num_layers=2, batch_first=True, bidirectional=True, dropout=0.1)
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.embed(x))
        return self.out(h)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    params = components.context("fillmask", Settings(root=Path.cwd())).config
    train, dev = corpus(
        params, Path(os.environ.get("FARGA_CATALAN_CORPUS", Path.cwd().parent / "shared/datasets/catalan"))
    )
    counts = Counts()
    for sentence in train:
        counts.add(sentence)
    counts.learn_endings()
    types = sorted({w for forms in counts.forms.values() for w in forms if len(w) == len(strip(w))})
    letters = {c: i + 1 for i, c in enumerate(sorted({c for w in types for c in strip(w)}))}
    tag_counts = Counter(m for w in types for m in marks(w))
    classes = [m for m, n in tag_counts.most_common() if n >= 20 or m == NONE]
    tag_id = {m: i for i, m in enumerate(classes)}
    names = [unicodedata.name(m[0], m) if m else "none" for m in classes]
    print(f"{len(types):,} word types, {len(letters)} letters, tags {names}")

    def encode(words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(w) for w in words)
        x = torch.zeros(len(words), width, dtype=torch.long)
        y = torch.full((len(words), width), -100, dtype=torch.long)
        for i, w in enumerate(words):
            for j, (c, m) in enumerate(zip(strip(w), marks(w), strict=True)):
                x[i, j] = letters.get(c, 0)
                y[i, j] = tag_id.get(m, 0)
        return x, y

    model = Tagger(len(letters) + 1, len(classes))
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = torch.randperm(len(types)).tolist()
        total = 0.0
        for b in range(0, len(order), 256):
            x, y = encode([types[i] for i in order[b : b + 256]])
            loss = nn.functional.cross_entropy(model(x).transpose(1, 2), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item()
        print(f"epoch {epoch + 1}: loss {total / (len(order) / 256):.4f} ({time.perf_counter() - start:.0f} s)")
    model.eval()

    def tag(stripped_words: list[str], confidence: float) -> list[str]:
        """A mark only where the tagger gives it at least ``confidence``: most unseen words are
        names and foreign words, which a tagger of Catalan words would otherwise accent."""
        with torch.no_grad():
            x, _ = encode(stripped_words)
            p, best = model(x).softmax(-1).max(-1)
        best[p < confidence] = 0
        return [apply(w, [classes[int(t)] for t in best[i, : len(w)]]) for i, w in enumerate(stripped_words)]

    unseen = [w for sentences in dev.values() for s in sentences for w in s if strip(w) not in counts.forms]
    unseen = [w for w in unseen if len(w) == len(strip(w))]
    accented = sum(w != strip(w) for w in unseen)
    print(f"unseen dev words: {len(unseen):,}, {accented / len(unseen):.1%} with a diacritic")
    outputs = {
        "left stripped (anchor)": [strip(w) for w in unseen],
        "ending rules": [counts.by_ending(strip(w)) for w in unseen],
    }
    outputs |= {f"tagger, confidence {c}": tag([strip(w) for w in unseen], c) for c in CONFIDENCES}
    for name, out in outputs.items():
        print(f"  {name}: {sum(g != w for g, w in zip(out, unseen, strict=True)) / len(unseen):.2%} wrong")
    best = min(
        CONFIDENCES, key=lambda c: sum(g != w for g, w in zip(outputs[f"tagger, confidence {c}"], unseen, strict=True))
    )
    tagged = dict(zip((strip(w) for w in unseen), outputs[f"tagger, confidence {best}"], strict=True))
    wrong = {"anchor": 0, f"context + tagger ({best})": 0}
    words = 0
    for sentences in dev.values():
        for sentence in sentences:
            bare = ["<s>", *(strip(w) for w in sentence), "</s>"]
            for i, truth in enumerate(sentence, start=1):
                words += 1
                wrong["anchor"] += counts.anchor(bare[i]) != truth
                if bare[i] in counts.forms:
                    guess = counts.in_context(bare[i - 1], bare[i], bare[i + 1])
                else:
                    guess = tagged.get(bare[i], bare[i])
                wrong[f"context + tagger ({best})"] += guess != truth
    for name, n in wrong.items():
        print(f"all {words:,} dev words, {name}: {n / words:.2%} wrong")


if __name__ == "__main__":
    main()
