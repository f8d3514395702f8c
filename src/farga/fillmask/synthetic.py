"""A small generated Catalan-like corpus for tests and demos: grammatical sentences from templates,
written from the lexicon the behavioural suite probes (article-noun-adjective agreement, singular and
plural verbs, fixed expressions, interchangeable names), so a model trained on it has something to learn
and a sound one passes the suite.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

from farga.fillmask import lexicon
from farga.fillmask.params import Synthetic

SYNTHETIC_FILE = "synthetic.txt.gz"
UNSEEN_FILE = "synthetic_unseen.txt.gz"

PLACES = ["Barcelona", "Girona", "Lleida", "Tarragona", "Vic", "Manresa", "Reus", "Olot"]
RESIDENT_VERBS = [("viu", "viuen"), ("treballa", "treballen"), ("estudia", "estudien"), ("camina", "caminen")]
CONTENT = ("content", "contenta", "contents", "contentes")


def sentence(rng: random.Random) -> str:
    kind = rng.randrange(7)
    name, city = rng.choice(lexicon.NAMES), rng.choice(PLACES)
    if kind in (0, 4):  # agreement of article, noun, verb and adjective
        sg, pl, fem = rng.choice(lexicon.NOUNS)
        plural = rng.random() < 0.5
        adj = rng.choice(lexicon.ADJECTIVES)[(2 if plural else 0) + fem]
        noun, verb = (pl, "són") if plural else (sg, "és")
        if kind == 4:
            return f"Ara {lexicon.article(fem, plural)} {noun} {verb} {adj}."
        return f"{lexicon.article(fem, plural).capitalize()} {noun} de {city} {verb} molt {adj}."
    if kind == 1:
        forms = rng.choice(RESIDENT_VERBS)
        if rng.random() < 0.5:
            return f"{name} {forms[0]} a {city} des de fa anys."
        other = rng.choice([n for n in lexicon.NAMES if n != name])
        return f"{name} i {other} {forms[1]} a {city} des de fa anys."
    if kind == 2:  # fixed expressions, and the frames whose names must change nothing
        frame, gap = rng.choice(lexicon.FIXED + lexicon.INVARIANT)
        return lexicon.filled(frame, gap, name=name, city=rng.choice(lexicon.CITIES))
    if kind == 5:  # the verb agrees with its subject
        plural = rng.random() < 0.5
        subject = rng.choice(lexicon.SUBJECTS)[plural]
        verb = rng.choice(lexicon.VERBS)[plural]
        frame = rng.choice(lexicon.VERB_FRAMES).replace(
            "contents", CONTENT[2 * plural + subject.startswith(("La", "Les"))]
        )
        return lexicon.with_subject(frame, subject, verb)
    if kind == 6:
        return f"{name} diu que {city} és una ciutat molt {rng.choice(lexicon.ADJECTIVES)[1]}."
    sg, pl, fem = rng.choice(lexicon.NOUNS)
    adj = rng.choice(lexicon.ADJECTIVES)[fem]
    return f"{name} diu que {lexicon.article(fem, False)} {sg} {adj} és a {city}."


def generate(n: int, seed: int) -> list[str]:
    """``n`` distinct sentences (the real corpus is de-duplicated; so is this one)."""
    rng = random.Random(seed)  # noqa: S311 - demo text, not secrets
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < n and attempts < n * 50:
        seen.setdefault(sentence(rng), None)
        attempts += 1
    return list(seen)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
    return path


def write_synthetic(folder: Path, cfg: Synthetic) -> list[str]:
    """Two sources from one draw, so no sentence is in both (the real corpus is de-duplicated across
    files): ``synthetic`` and, held out by default, ``synthetic_unseen``. The file names, in order."""
    n, extra = cfg.sentences, cfg.unseen_sentences
    lines = generate(n + extra, cfg.seed)
    write_lines(folder / SYNTHETIC_FILE, lines[:n])
    if not extra:
        return [SYNTHETIC_FILE]
    write_lines(folder / UNSEEN_FILE, lines[n:])
    return [SYNTHETIC_FILE, UNSEEN_FILE]
