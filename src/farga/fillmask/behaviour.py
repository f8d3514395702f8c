"""CheckList tests of the served fillmask predictor (``farga test-model fillmask``).

Minimum functionality: number agreement ("les cases són <mask>" puts more probability on plural
adjectives than singular ones, and the reverse for "la casa és <mask>"), and the article or
preposition of fixed expressions in the top 3. Invariance: changing a person's or a city's name
leaves the prediction elsewhere in the sentence unchanged. Directional: a plural subject moves
probability from singular to plural verb forms. Slices: the kind of construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from farga.checklist import Case
from farga.fillmask import lexicon
from farga.fillmask.params import FillmaskContext
from farga.fillmask.predictor import Predictor
from farga.fillmask.text import MASK, split


class Scorer:
    def __init__(self, predictor: Predictor):
        self.predictor = predictor
        self.index = predictor.vocab.index

    def probs(self, text: str) -> np.ndarray:
        probs: np.ndarray = np.exp(self.predictor.log_probs([split(text)])[0][0])
        return probs

    def mass(self, p: np.ndarray, words: Sequence[str]) -> float:
        return float(sum(p[self.index[w]] for w in set(words) if w in self.index))

    def top(self, p: np.ndarray, k: int) -> list[str]:
        return [self.predictor.vocab.words[i] for i in np.argsort(-p)[:k]]


def agreement_cases(s: Scorer) -> list[Case]:
    cases = []
    for singular, plural, feminine in lexicon.NOUNS:
        sg_forms = [a[1 if feminine else 0] for a in lexicon.ADJECTIVES]
        pl_forms = [a[3 if feminine else 2] for a in lexicon.ADJECTIVES]
        for subject, verb, wanted, other, number in (
            (f"{lexicon.article(feminine, True)} {plural}", "són", pl_forms, sg_forms, "plural"),
            (f"{lexicon.article(feminine, False)} {singular}", "és", sg_forms, pl_forms, "singular"),
        ):
            text = f"{subject.capitalize()} {verb} {MASK}."
            p = s.probs(text)
            right, wrong = s.mass(p, wanted), s.mass(p, other)
            cases.append(
                Case(
                    "minimum_functionality",
                    f"agreement: {number} subject takes {number} adjectives",
                    "agreement",
                    text,
                    right > wrong,
                    f"{number} {right:.4f} vs {wrong:.4f}; top {s.top(p, 3)}",
                )
            )
    return cases


def fixed_expression_cases(s: Scorer) -> list[Case]:
    cases = []
    for frame, expected in lexicon.FIXED:
        text = lexicon.filled(frame, MASK, name=lexicon.NAMES[0])
        top = s.top(s.probs(text), 3)
        cases.append(
            Case(
                "minimum_functionality",
                "fixed expressions: the article or preposition in the top 3",
                "fixed expressions",
                text,
                expected in top,
                f"top 3 {top}, expected {expected!r}",
            )
        )
    return cases


def invariance_cases(s: Scorer) -> list[Case]:
    cases = []
    for template, _ in lexicon.INVARIANT:
        base_text = lexicon.filled(template, MASK, name=lexicon.NAMES[0], city=lexicon.CITIES[0])
        base = s.top(s.probs(base_text), 1)[0]
        for name, city in zip(lexicon.NAMES[1:], lexicon.CITIES[1:], strict=True):
            for kind, text in (
                ("person", lexicon.filled(template, MASK, name=name, city=lexicon.CITIES[0])),
                ("city", lexicon.filled(template, MASK, name=lexicon.NAMES[0], city=city)),
            ):
                top = s.top(s.probs(text), 1)[0]
                cases.append(
                    Case(
                        "invariance",
                        f"invariance: change a {kind}'s name",
                        f"{kind} names",
                        text,
                        top == base,
                        f"{top!r} (with {lexicon.NAMES[0]}, {lexicon.CITIES[0]}: {base!r})",
                    )
                )
    return cases


def directional_cases(s: Scorer) -> list[Case]:
    singular_verbs, plural_verbs = [v[0] for v in lexicon.VERBS], [v[1] for v in lexicon.VERBS]
    cases = []
    for frame in lexicon.VERB_FRAMES:
        for one, many in lexicon.SUBJECTS:
            shares = []
            for subject in (one, many):
                p = s.probs(lexicon.with_subject(frame, subject, MASK))
                pl, sg = s.mass(p, plural_verbs), s.mass(p, singular_verbs)
                shares.append(pl / max(pl + sg, 1e-12))
            text = lexicon.with_subject(frame, many, MASK)
            cases.append(
                Case(
                    "directional",
                    "directional: a plural subject shifts the verb to plural",
                    "verb number",
                    text,
                    shares[1] > shares[0] and shares[1] > 0.5,
                    f"plural share of verb forms {shares[0]:.2f} -> {shares[1]:.2f}",
                )
            )
    return cases


def behaviour(ctx: FillmaskContext, model_path: Path) -> list[Case]:
    scorer = Scorer(Predictor.load(model_path if model_path.is_dir() else model_path.parent))
    return (
        agreement_cases(scorer) + fixed_expression_cases(scorer) + invariance_cases(scorer) + directional_cases(scorer)
    )
