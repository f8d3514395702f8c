"""Which model restores Catalan accents? A study before the accents component exists (issue 33).

Catalan typed without its diacritics ("pero no se que dir") gets them back ("però no sé què dir").
The corpus and split are fillmask's: the sources that train, and the seven held-out sources read only
here, on their dev lines (``unseen_dev``, 30% by line hash, the split `farga data prepare fillmask`
makes). Every word of a held-out line is stripped; a model writes each back. Word error counts words
(letters only, case ignored) written differently from the original. Three models, each built from
the training sources only:

- anchor: the most frequent written form of each stripped word; a word never seen stays stripped;
- context: among a stripped word's written forms, the one most probable between its stripped
  neighbours (counts of the form after the previous word and before the next, with add-one
  smoothing, over the form's own frequency);
- context + suffixes: the same, and a word never seen takes the accents of the longest ending
  (2 to 6 letters) that at least 5 training words share, 90% of them writing it one way.

Run from a checkout (the corpus at FARGA_CATALAN_CORPUS or ../shared/datasets/catalan):

    .venv/bin/python tools/accents_model_study.py
"""

from __future__ import annotations

import gzip
import math
import os
import re
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

from farga import components
from farga.config import Settings
from farga.fillmask.params import FillmaskParams
from farga.fillmask.prepare import assign_split, doc_hash
from farga.fillmask.sources import genre_of

WORD = re.compile(r"[^\W\d_]+(?:·[^\W\d_]+)?")
ENDINGS = range(6, 1, -1)
SUFFIX_AGREEMENT = 0.9  # of the training words (types) with this stripped ending, written one way
SUFFIX_SUPPORT = 5  # at least this many of them


def strip(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def words(line: str) -> list[str]:
    return [w.lower() for w in WORD.findall(unicodedata.normalize("NFC", line))]


def lines(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        yield from (line.strip() for line in fh if line.strip())


class Counts:
    """What the training sources say: each stripped word's written forms, and the forms' neighbours."""

    def __init__(self) -> None:
        self.forms: dict[str, Counter[str]] = defaultdict(Counter)
        self.after: Counter[tuple[str, str]] = Counter()  # (stripped previous word, form)
        self.before: Counter[tuple[str, str]] = Counter()  # (form, stripped next word)
        self.endings: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, sentence: list[str]) -> None:
        bare = ["<s>", *(strip(w) for w in sentence), "</s>"]
        for i, form in enumerate(sentence, start=1):
            self.forms[bare[i]][form] += 1
            self.after[bare[i - 1], form] += 1
            self.before[form, bare[i + 1]] += 1

    def learn_endings(self) -> None:
        for stripped, forms in self.forms.items():
            for form in forms:
                for k in ENDINGS:
                    if len(form) > k and len(strip(form[-k:])) == k:
                        self.endings[stripped[-k:]][form[-k:]] += 1  # types: unseen words are rare ones

    def anchor(self, stripped: str) -> str:
        forms = self.forms.get(stripped)
        return forms.most_common(1)[0][0] if forms else stripped

    def in_context(self, previous: str, stripped: str, following: str) -> str:
        forms = self.forms.get(stripped)
        if not forms:
            return stripped
        if len(forms) == 1:
            return next(iter(forms))

        def score(form: str) -> float:
            n = forms[form]
            return (
                math.log(self.after[previous, form] + 1)
                + math.log(self.before[form, following] + 1)
                - math.log(n + 1)
                + math.log(n)
            )

        return max(forms, key=score)

    def by_ending(self, stripped: str) -> str:
        for k in ENDINGS:
            written = self.endings.get(stripped[-k:])
            if len(stripped) > k and written:
                form, n = written.most_common(1)[0]
                total = sum(written.values())
                if total >= SUFFIX_SUPPORT and n >= SUFFIX_AGREEMENT * total:
                    return stripped[:-k] + form
        return stripped


def restore(counts: Counts, sentence: list[str], model: str) -> list[str]:
    bare = ["<s>", *(strip(w) for w in sentence), "</s>"]
    out = []
    for i in range(1, len(bare) - 1):
        if model == "anchor":
            out.append(counts.anchor(bare[i]))
        elif bare[i] not in counts.forms and model == "context + suffixes":
            out.append(counts.by_ending(bare[i]))
        else:
            out.append(counts.in_context(bare[i - 1], bare[i], bare[i + 1]))
    return out


def corpus(params: FillmaskParams, root: Path) -> tuple[list[list[str]], dict[str, list[list[str]]]]:
    held_out = set(params.data.held_out["catalan"])
    train, dev = [], defaultdict(list)
    for path in sorted(root.glob("*.txt.gz")):
        source = path.name.removesuffix(".txt.gz")
        for line in lines(path):
            split = assign_split(doc_hash(line), params.data, source in held_out)
            if split == "unseen_dev":
                dev[genre_of(source)].append(words(line))
            elif split == "train":
                train.append(words(line))
    return train, dev


MODELS = ("anchor", "context", "context + suffixes")


def errors(counts: Counts, sentences: Iterable[list[str]]) -> dict[str, Counter[str]]:
    tally = {m: Counter[str]() for m in MODELS}
    for sentence in sentences:
        guesses = {m: restore(counts, sentence, m) for m in MODELS}
        for i, truth in enumerate(sentence):
            stripped = strip(truth)
            kinds = ["all"]
            if stripped not in counts.forms:
                kinds.append("unseen")
            elif len(counts.forms[stripped]) > 1:
                kinds.append("ambiguous")
            if truth != stripped:
                kinds.append("accented")
            for m in MODELS:
                for kind in kinds:
                    tally[m][kind] += 1
                    tally[m][f"{kind} wrong"] += guesses[m][i] != truth
    return tally


def main() -> None:
    console = Console()
    settings = Settings(root=Path.cwd())
    params: FillmaskParams = components.context("fillmask", settings).config
    root = Path(os.environ.get("FARGA_CATALAN_CORPUS", settings.root.parent / "shared/datasets/catalan"))
    train, dev = corpus(params, root)
    counts = Counts()
    for sentence in train:
        counts.add(sentence)
    counts.learn_endings()
    console.print(
        f"{len(train):,} training lines; held-out dev lines by genre: { ({g: len(s) for g, s in dev.items()}) }"
    )
    table = Table(
        "genre", "words", "accented", "ambiguous", "unseen", *(f"{m}: all / ambiguous / unseen" for m in MODELS)
    )
    overall = {m: Counter[str]() for m in MODELS}
    for genre, sentences in sorted(dev.items()):
        tally = errors(counts, sentences)
        for m in MODELS:
            overall[m].update(tally[m])
        table.add_row(genre, *row(tally))
    table.add_row("all", *row(overall))
    console.print(table)
    sentence = ["pero"] * 30
    for m in MODELS:
        start = time.perf_counter()
        for _ in range(1000):
            restore(counts, sentence, m)
        console.print(f"{m}: {(time.perf_counter() - start):.3f} ms per 30-word sentence (1,000 runs)")


def row(tally: dict[str, Counter[str]]) -> list[str]:
    first = tally[MODELS[0]]

    def share(kind: str) -> str:
        return f"{first[kind] / max(first['all'], 1):.1%}"

    def rate(t: Counter[str], kind: str) -> str:
        return f"{t[f'{kind} wrong'] / max(t[kind], 1):.2%}"

    cells = [f"{first['all']:,}", share("accented"), share("ambiguous"), share("unseen")]
    return cells + [" / ".join(rate(tally[m], k) for k in ("all", "ambiguous", "unseen")) for m in MODELS]


if __name__ == "__main__":
    main()
