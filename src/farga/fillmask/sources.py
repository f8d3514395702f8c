"""The Catalan corpus, file by file: where each file comes from publicly, under which licence, and
how many lines and words the cleaned copy holds (so that ``fetch`` can prove what it received).

The cleaning that produced these files (language identification, de-duplication across files,
lines of at least five words ending in sentence punctuation, no markup or URLs) is described in the
dataset card; the counts are those of the cleaned copy, 212,281 lines and 2.83 million words.
"""

from __future__ import annotations

from dataclasses import dataclass

CC0_REPO = "https://github.com/TeMU-BSC/catalan_CC0_sentences"
SOFTCATALA_PARALLEL = "https://github.com/Softcatala/parallel-catalan-corpus"
CLUB = "https://github.com/projecte-aina/club"


@dataclass(frozen=True)
class Source:
    file: str
    origin: str
    licence: str
    lines: int
    words: int
    genre: str  # the kind of text, the slice the evaluation reports it in

    @property
    def name(self) -> str:
        return self.file.removesuffix(".txt.gz")


def _cc0(file: str, path: str, lines: int, words: int, genre: str) -> Source:
    return Source(file, f"{CC0_REPO} `{path}`", "CC0", lines, words, genre)


SOURCES: tuple[Source, ...] = (
    _cc0("news_cc0_newswire.txt.gz", "new_sentences_from_catalan_newswire.txt", 56799, 557928, "news"),
    _cc0("encyclopedia_dictionary_sentences.txt.gz", "frases_diccionaris_enciclopedia.txt", 19282, 138192, "reference"),
    _cc0("gencat_cultura.txt.gz", "gencat_cultura.txt", 4085, 39043, "administration"),
    _cc0("gencat_economia.txt.gz", "gencat_economia.txt", 554, 5343, "administration"),
    _cc0("gencat_empresa.txt.gz", "gencat_empresa.txt", 2206, 23282, "administration"),
    _cc0("gencat_habitatge.txt.gz", "gencat_habitatge.txt", 288, 2618, "administration"),
    _cc0("gencat_residus.txt.gz", "gencat_residus.txt", 349, 3256, "administration"),
    _cc0("gencat_web.txt.gz", "gencat_web.txt", 2394, 21681, "administration"),
    _cc0("cgc_aa.txt.gz", "cgc_aa_frases_seleccionades_filtrades.txt (older commit)", 5036, 46036, "administration"),
    _cc0("cgc_ab.txt.gz", "cgc_ab_frases_seleccionades_filtrades.txt (older commit)", 12916, 113266, "administration"),
    _cc0("cgc_ac.txt.gz", "cgc_ac_frases_seleccionades_filtrades.txt (older commit)", 7272, 65156, "administration"),
    _cc0(
        "literature_marius_serra.txt.gz", "novels and literature sentences (Màrius Serra)", 28825, 252295, "literature"
    ),
    _cc0(
        "literature_marius_serra_crosswords.txt.gz", "crossword sentences (Màrius Serra)", 15865, 120122, "literature"
    ),
    _cc0("literature_misc.txt.gz", "literature sentences", 344, 3924, "literature"),
    _cc0("literature_pujolar.txt.gz", "literature sentences (Pujolar)", 716, 7103, "literature"),
    Source(
        "globalvoices.txt.gz", f"{SOFTCATALA_PARALLEL} `eng-cat/globalvoices.en-ca.ca`", "CC BY", 17435, 400681, "news"
    ),
    Source(
        "tatoeba.txt.gz",
        f"{SOFTCATALA_PARALLEL} `eng-cat/tatoeba.en-ca.ca`",
        "CC BY / CC0",
        3334,
        26296,
        "conversation",
    ),
    Source(
        "softcatala_articles.txt.gz",
        "https://github.com/Softcatala/softcatala-web-dataset `dataset/articles.json`",
        "CC BY-SA 4.0",
        2051,
        145297,
        "software",
    ),
    Source(
        "viquiquad_wikipedia.txt.gz", f"{CLUB} `src/qa/viquiquad-test.json`", "CC BY-SA 4.0", 311, 38622, "reference"
    ),
    Source("xquad_wikipedia.txt.gz", f"{CLUB} `src/qa/xquad-ca.json`", "CC BY-SA 4.0", 230, 32296, "reference"),
    Source(
        "docs_libreoffice_help.txt.gz",
        "Debian package libreoffice-help-ca 4:7.4.7",
        "MPL-2.0",
        20702,
        456212,
        "software",
    ),
    Source("docs_gimp_help.txt.gz", "Debian package gimp-help-ca 2.10.34", "GFDL", 7003, 203798, "software"),
    Source(
        "docs_gnome_help.txt.gz",
        "Debian package gnome-user-docs 43.0 (help/ca)",
        "CC BY-SA 3.0",
        2604,
        63756,
        "software",
    ),
    Source(
        "docs_debian_installation_guide.txt.gz",
        "Debian package installation-guide-amd64 (ca)",
        "GPL-2",
        1101,
        49630,
        "software",
    ),
    Source("docs_debian_maint_guide.txt.gz", "Debian package maint-guide-ca 1.2.53", "GPL", 579, 14310, "software"),
)


def by_file() -> dict[str, Source]:
    return {s.file: s for s in SOURCES}


GENRES: dict[str, str] = {s.name: s.genre for s in SOURCES}


def genre_of(name: str) -> str:
    """The genre of a source by its name (file name without ``.txt.gz``); a source outside the
    corpus (the synthetic stand-in) is a genre of its own."""
    return GENRES.get(name, name)
