"""A small generated Catalan-like corpus for tests and demos: grammatical sentences from templates,
with the regularities the behavioural tests probe (article-noun-adjective agreement, singular and
plural verbs, fixed expressions, interchangeable names), so a model trained on it has something to learn.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

NOUNS = [  # (singular, plural, feminine)
    ("casa", "cases", True), ("ciutat", "ciutats", True), ("finestra", "finestres", True),
    ("porta", "portes", True), ("platja", "platges", True), ("muntanya", "muntanyes", True),
    ("gat", "gats", False), ("llibre", "llibres", False), ("carrer", "carrers", False),
    ("riu", "rius", False), ("cotxe", "cotxes", False), ("arbre", "arbres", False),
]  # fmt: skip
ADJECTIVES = [  # (masc sg, fem sg, masc pl, fem pl)
    ("gran", "gran", "grans", "grans"), ("petit", "petita", "petits", "petites"),
    ("blanc", "blanca", "blancs", "blanques"), ("nou", "nova", "nous", "noves"),
    ("vell", "vella", "vells", "velles"), ("bonic", "bonica", "bonics", "boniques"),
]  # fmt: skip
NAMES = ["Anna", "Joan", "Maria", "Pere", "Laia", "Jordi", "Núria", "Marc"]
CITIES = ["Barcelona", "Girona", "Lleida", "Tarragona", "Vic", "Manresa", "Reus", "Olot"]
VERBS = [("viu", "viuen"), ("treballa", "treballen"), ("estudia", "estudien"), ("camina", "caminen")]
EXPRESSIONS = [
    "De tant en tant {name} va a {city} amb tren.",
    "A poc a poc {name} aprèn a cuinar.",
    "Per exemple, {name} llegeix cada dia.",
    "D'acord amb el pla, {name} arriba demà a {city}.",
    "Al cap i a la fi, {name} tenia raó.",
]


def _article(feminine: bool, plural: bool) -> str:
    return ("les" if plural else "la") if feminine else ("els" if plural else "el")


def sentence(rng: random.Random) -> str:
    kind = rng.randrange(4)
    name, city = rng.choice(NAMES), rng.choice(CITIES)
    if kind == 0:
        sg, pl, fem = rng.choice(NOUNS)
        plural = rng.random() < 0.5
        adj = rng.choice(ADJECTIVES)[(2 if plural else 0) + fem]
        noun = pl if plural else sg
        verb = "són" if plural else "és"
        return f"{_article(fem, plural).capitalize()} {noun} de {city} {verb} molt {adj}."
    if kind == 1:
        forms = rng.choice(VERBS)
        if rng.random() < 0.5:
            return f"{name} {forms[0]} a {city} des de fa anys."
        other = rng.choice([n for n in NAMES if n != name])
        return f"{name} i {other} {forms[1]} a {city} des de fa anys."
    if kind == 2:
        return rng.choice(EXPRESSIONS).format(name=name, city=city)
    sg, pl, fem = rng.choice(NOUNS)
    adj = rng.choice(ADJECTIVES)[fem]
    return f"{name} diu que {_article(fem, False)} {sg} {adj} és a {city}."


def generate(n: int, seed: int) -> list[str]:
    """``n`` distinct sentences (the real corpus is de-duplicated; so is this one)."""
    rng = random.Random(seed)  # noqa: S311 - demo text, not secrets
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < n and attempts < n * 50:
        seen.setdefault(sentence(rng), None)
        attempts += 1
    return list(seen)


def write_synthetic(path: Path, cfg: dict[str, Any]) -> Path:
    lines = generate(int(cfg["sentences"]), int(cfg["seed"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
    return path
