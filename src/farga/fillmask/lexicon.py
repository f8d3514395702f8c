"""The Catalan words and frames the behavioural suite probes, in one place.

``behaviour.py`` builds its CheckList cases from them, and ``synthetic.py`` writes its demo text from
them, so a small model trained on the synthetic text can learn every regularity the suite checks
(agreement, verb number, fixed expressions, names that change nothing). That is what lets CI show the
suite both ways: a sound small model passes it and the same model with its words shuffled fails it.
"""

from __future__ import annotations

# (singular, plural, feminine); every noun starts with a consonant, so its article is el/la/els/les
NOUNS = [
    ("casa", "cases", True), ("ciutat", "ciutats", True), ("platja", "platges", True),
    ("pregunta", "preguntes", True), ("finestra", "finestres", True), ("muntanya", "muntanyes", True),
    ("cotxe", "cotxes", False), ("llibre", "llibres", False), ("carrer", "carrers", False),
    ("projecte", "projectes", False), ("gat", "gats", False), ("riu", "rius", False),
]  # fmt: skip
# (masculine singular, feminine singular, masculine plural, feminine plural)
ADJECTIVES = [
    ("petit", "petita", "petits", "petites"), ("bonic", "bonica", "bonics", "boniques"),
    ("nou", "nova", "nous", "noves"), ("vell", "vella", "vells", "velles"), ("blanc", "blanca", "blancs", "blanques"),
    ("alt", "alta", "alts", "altes"), ("antic", "antiga", "antics", "antigues"), ("bo", "bona", "bons", "bones"),
    ("gran", "gran", "grans", "grans"), ("important", "important", "importants", "importants"),
    ("difícil", "difícil", "difícils", "difícils"), ("car", "cara", "cars", "cares"),
]  # fmt: skip
NAMES = ["Anna", "Jordi", "Maria", "Pau", "Núria", "Marc", "Laia", "Joan"]
CITIES = ["Barcelona", "Girona", "Lleida", "Tarragona", "València", "Palma", "Vic", "Reus"]
VERBS = [  # (singular, plural)
    ("va", "van"), ("és", "són"), ("té", "tenen"), ("ha", "han"), ("està", "estan"), ("viu", "viuen"),
    ("treballa", "treballen"), ("menja", "mengen"), ("juga", "juguen"), ("canta", "canten"), ("surt", "surten"),
    ("arriba", "arriben"), ("fa", "fan"), ("diu", "diuen"), ("era", "eren"), ("serà", "seran"), ("pot", "poden"),
    ("vol", "volen"), ("estava", "estaven"), ("anava", "anaven"),
]  # fmt: skip
SUBJECTS = [  # (singular, plural)
    ("El nen", "Els nens"), ("La noia", "Les noies"), ("El professor", "Els professors"),
    ("Aquest home", "Aquests homes"), ("La meva germana", "Les meves germanes"), ("El gos", "Els gossos"),
]  # fmt: skip
# where the verb of a subject goes; {subject} and {verb}
VERB_FRAMES = [
    "{subject} {verb} a l'escola cada dia.",
    "{subject} {verb} molt contents.",
    "Ahir {subject} {verb} al parc.",
]
# fixed expressions: a sentence with {name}, and the article or preposition the suite masks (the first {gap})
FIXED = [
    ("{name} va anar {gap} peu fins a la plaça.", "a"),
    ("{name} ho va fer {gap} propòsit.", "a"),
    ("{name} i jo ens veiem {gap} tant en tant.", "de"),
    ("{name} està {gap} punt de marxar.", "a"),
    ("{name} treballa {gap} través de la xarxa.", "a"),
    ("Al cap i a {gap} fi, {name} tenia raó.", "la"),
    ("{name} parlava {gap} veu baixa.", "en"),
    ("{name} ho sap {gap} memòria.", "de"),
    ("{name} ho va fer a {gap} vista de tothom.", "la"),
    ("{gap} vegades {name} camina fins al riu.", "a"),
]
# names changed here must not change the word predicted; {name}, {city} and the masked {gap}
INVARIANT = [
    ("{name} viu a {city} des de {gap} anys.", "fa"),
    ("{name} treballa a {city} en una empresa {gap} programari.", "de"),
    ("Ahir {name} va anar a {city} amb la {gap} germana.", "seva"),
    ("{name} diu que {city} és una ciutat molt {gap}.", "bonica"),
]


def article(feminine: bool, plural: bool) -> str:
    return ("les" if plural else "la") if feminine else ("els" if plural else "el")


def filled(frame: str, gap: str, **names: str) -> str:
    """A frame with its gap filled (the synthetic text) or masked (``gap="<mask>"``, the suite's case),
    its first letter capitalised."""
    text = frame.format(gap=gap, **names)
    return text[0].upper() + text[1:]


def with_subject(frame: str, subject: str, verb: str) -> str:
    """A verb frame with its subject (lower-cased inside the sentence) and its verb (or the mask)."""
    return filled(frame, "", subject=subject if frame.startswith("{subject}") else subject.lower(), verb=verb)
