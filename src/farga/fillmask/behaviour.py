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

from farga.behaviour import Case
from farga.config import StageContext
from farga.fillmask.predictor import Predictor
from farga.fillmask.text import split

# (masculine singular, feminine singular, masculine plural, feminine plural)
ADJECTIVES = [
    ("petit", "petita", "petits", "petites"), ("bonic", "bonica", "bonics", "boniques"),
    ("nou", "nova", "nous", "noves"), ("vell", "vella", "vells", "velles"), ("blanc", "blanca", "blancs", "blanques"),
    ("alt", "alta", "alts", "altes"), ("antic", "antiga", "antics", "antigues"), ("bo", "bona", "bons", "bones"),
    ("gran", "gran", "grans", "grans"), ("important", "important", "importants", "importants"),
    ("difícil", "difícil", "difícils", "difícils"), ("car", "cara", "cars", "cares"),
]  # fmt: skip
NOUNS = [  # (singular with article, plural with article, feminine)
    ("la casa", "les cases", True), ("la ciutat", "les ciutats", True), ("la platja", "les platges", True),
    ("la pregunta", "les preguntes", True), ("el cotxe", "els cotxes", False), ("el llibre", "els llibres", False),
    ("el carrer", "els carrers", False), ("el projecte", "els projectes", False),
]  # fmt: skip
FIXED = [  # (sentence, the missing article or preposition)
    ("Vam anar <mask> peu fins a la plaça.", "a"),
    ("Ho va fer <mask> propòsit.", "a"),
    ("Ens veiem <mask> tant en tant.", "de"),
    ("Està <mask> punt de marxar.", "a"),
    ("Treballa <mask> través de la xarxa.", "a"),
    ("Al cap i a <mask> fi, tenia raó.", "la"),
    ("Parlava <mask> veu baixa.", "en"),
    ("Ho sap <mask> memòria.", "de"),
    ("Ho vaig fer a <mask> vista de tothom.", "la"),
    ("<mask> vegades plou molt a la tardor.", "a"),
]
NAMES = ["Anna", "Jordi", "Maria", "Pau", "Núria", "Marc"]
CITIES = ["Barcelona", "Girona", "Lleida", "Tarragona", "València", "Palma"]
INVARIANT = [
    "{name} viu a {city} des de <mask> anys.",
    "{name} treballa a {city} en una empresa <mask> programari.",
    "Ahir {name} va anar a {city} amb la <mask> germana.",
    "{name} diu que {city} és una ciutat molt <mask>.",
    "El pare de {name} va néixer a {city} l'any <mask>.",
]
VERBS = [  # (singular, plural)
    ("va", "van"), ("és", "són"), ("té", "tenen"), ("ha", "han"), ("està", "estan"), ("viu", "viuen"),
    ("treballa", "treballen"), ("menja", "mengen"), ("juga", "juguen"), ("canta", "canten"), ("surt", "surten"),
    ("arriba", "arriben"), ("fa", "fan"), ("diu", "diuen"), ("era", "eren"), ("serà", "seran"), ("pot", "poden"),
    ("vol", "volen"), ("estava", "estaven"), ("anava", "anaven"),
]  # fmt: skip
SUBJECTS = [
    ("El nen", "Els nens"), ("La noia", "Les noies"), ("El professor", "Els professors"),
    ("Aquest home", "Aquests homes"), ("La meva germana", "Les meves germanes"), ("El gos", "Els gossos"),
]  # fmt: skip
FRAMES = ["{subject} <mask> a l'escola cada dia.", "{subject} <mask> molt contents.", "Ahir {subject} <mask> al parc."]


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
    for singular, plural, feminine in NOUNS:
        sg_forms = [a[1 if feminine else 0] for a in ADJECTIVES]
        pl_forms = [a[3 if feminine else 2] for a in ADJECTIVES]
        for subject, verb, wanted, other, number in (
            (plural, "són", pl_forms, sg_forms, "plural"),
            (singular, "és", sg_forms, pl_forms, "singular"),
        ):
            text = f"{subject.capitalize()} {verb} <mask>."
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
    for text, expected in FIXED:
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
    for template in INVARIANT:
        base_text = template.format(name=NAMES[0], city=CITIES[0])
        base = s.top(s.probs(base_text), 1)[0]
        for name, city in zip(NAMES[1:], CITIES[1:], strict=True):
            for kind, text in (
                ("person", template.format(name=name, city=CITIES[0])),
                ("city", template.format(name=NAMES[0], city=city)),
            ):
                top = s.top(s.probs(text), 1)[0]
                cases.append(
                    Case(
                        "invariance",
                        f"invariance: change a {kind}'s name",
                        f"{kind} names",
                        text,
                        top == base,
                        f"{top!r} (with {NAMES[0]}, {CITIES[0]}: {base!r})",
                    )
                )
    return cases


def directional_cases(s: Scorer) -> list[Case]:
    singular_verbs, plural_verbs = [v[0] for v in VERBS], [v[1] for v in VERBS]
    cases = []
    for frame in FRAMES:
        for one, many in SUBJECTS:
            shares = []
            for subject in (one, many):
                p = s.probs(frame.format(subject=subject))
                pl, sg = s.mass(p, plural_verbs), s.mass(p, singular_verbs)
                shares.append(pl / max(pl + sg, 1e-12))
            text = frame.format(subject=many)
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


def behaviour(ctx: StageContext, model_path: Path) -> list[Case]:
    scorer = Scorer(Predictor.load(model_path if model_path.is_dir() else model_path.parent))
    return (
        agreement_cases(scorer) + fixed_expression_cases(scorer) + invariance_cases(scorer) + directional_cases(scorer)
    )
