"""What a "word" is, in one place: the unit that is masked, predicted and scored.

Text is lower-cased (predictions are judged case-insensitively, and served in their most common
spelling), typographic apostrophes become ``'``, and a line splits into words (letters and digits,
with the Catalan ``l·l`` kept whole) and single punctuation marks: ``l'home`` is ``l ' home``,
``col·lecció`` one word. The user's ``<mask>`` marker survives splitting as one token.
"""

from __future__ import annotations

import re

MASK = "<mask>"
_SPLIT = re.compile(r"<mask>|[^\W_]+(?:[·.][^\W_]+)*|[^\w\s]", re.UNICODE)
_WORD = re.compile(r"[^\W_]+(?:[·.][^\W_]+)*", re.UNICODE)
_TYPOGRAPHIC = str.maketrans({"’": "'", "‘": "'", "ŀ": "l·", "Ŀ": "L·", "\u00a0": " "})


def normalise(text: str) -> str:
    return text.translate(_TYPOGRAPHIC).replace("l··", "l·")


def split(text: str, lower: bool = True) -> list[str]:
    """Words and punctuation marks of ``text``, in order."""
    text = normalise(text)
    return _SPLIT.findall(text.lower() if lower else text)


def is_word(token: str) -> bool:
    """A maskable word (not punctuation, not the mask marker)."""
    return bool(_WORD.fullmatch(token))


# Closed-class Catalan words: articles, prepositions, conjunctions, pronouns, determiners and the
# auxiliaries; everything else counts as a content word in the evaluation by word class.
FUNCTION_WORDS = frozenset(
    [
        "el", "la", "els", "les", "l", "lo", "un", "una", "uns", "unes", "en", "n", "na", "a", "de", "d", "del", "dels",
        "al", "als", "pel", "pels", "per", "amb", "sense", "sobre", "sota", "entre", "fins", "cap", "contra", "des",
        "davant", "darrere", "dins", "fora", "segons", "durant", "mitjançant", "envers", "vers", "com", "i", "o", "ni",
        "però", "sinó", "que", "perquè", "si", "quan", "mentre", "doncs", "així", "també", "tampoc", "ja", "jo", "tu",
        "ell", "ella", "nosaltres", "vosaltres", "ells", "elles", "em", "m", "et", "t", "es", "s", "se", "ens", "us",
        "li", "hi", "ho", "me", "te", "ne", "meu", "meva", "meus", "meves", "teu", "teva", "seu", "seva", "seus",
        "seves", "nostre", "nostra", "nostres", "vostre", "vostra", "vostres", "llur", "llurs", "aquest", "aquesta",
        "aquests", "aquestes", "aquell", "aquella", "aquells", "aquelles", "això", "allò", "açò", "qui", "què", "quin",
        "quina", "quins", "quines", "on", "quant", "quanta", "quants", "quantes", "cada", "altre", "altra", "altres",
        "tot", "tota", "tots", "totes", "algun", "alguna", "alguns", "algunes", "cap", "cap", "molt", "molta", "molts",
        "moltes", "poc", "poca", "pocs", "poques", "més", "menys", "tan", "tant", "no", "sí", "és", "són", "era",
        "eren", "ser", "ésser", "estar", "està", "estan", "ha", "han", "he", "hem", "heu", "has", "havia", "havien",
        "haver", "serà", "seran", "sigui", "siguin", "fou", "foren", "va", "van", "vaig", "vas", "vam", "vau",
    ]
)  # fmt: skip
