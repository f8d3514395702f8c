"""Fill catalogue.csv's ``typst`` column: each symbol's name in Typst math, where Typst has one.

Typst's own symbol table is read from the Typst compiler (the ``typst`` package, a dev dependency):
every name of its ``sym`` module with every variant and the character it stands for. A catalogue
symbol gets the shortest name whose character is its Unicode one; math alphabets (``\\mathcal{A}``)
get Typst's alphabet functions (``cal(A)``); letters and digits are themselves. Of several names
for one character, the one with the fewest modifiers, then the first alphabetically (``dollar``). Rerun after editing
the catalogue's Unicode column; tests/data/test_catalogue_outputs.py checks every name with Typst.

    .venv/bin/python tools/catalogue_typst.py
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parents[1] / "src/farga/symbols/catalogue.csv"
ALPHABETS = {"mathcal": "cal", "mathscr": "scr", "mathfrak": "frak", "mathbb": "bb", "mathds": "bb"}
VARIANT = re.compile(r'\(\s*"([^"]*)",\s*"((?:[^"\\]|\\.)*)"\s*\)')
PLAIN = re.compile(r'^symbol\(\s*"((?:[^"\\]|\\.)*)"')


def unescape(text: str) -> str:
    text = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m[1], 16)), text)
    return re.sub(r"\\(.)", r"\1", text).replace("\ufe0e", "")


def typst_symbols() -> dict[str, str]:
    """Every ``sym`` name (with variants, ``arrow.r.long``) -> its character, from the compiler itself."""
    import typst

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "symbols.typ"
        source.write_text("#metadata(dictionary(sym).pairs().map(((k, v)) => (k, repr(v)))) <symbols>\n")
        pairs = json.loads(typst.query(str(source), "<symbols>"))[0]["value"]
    table: dict[str, str] = {}
    for name, shown in pairs:
        variants = VARIANT.findall(shown)
        plain = PLAIN.match(shown)
        if plain:
            table[name] = unescape(plain[1])
        elif variants:
            table[name] = unescape(variants[0][1])  # a bare name stands for its first variant
        for modifiers, char in variants:
            table.setdefault(f"{name}.{modifiers}" if modifiers else name, unescape(char))
    return table


def typst_name(latex: str, char: str, names_of: dict[str, list[str]]) -> str:
    alphabet = re.fullmatch(r"\\(math[a-z]+)\{(.)\}", latex)
    if char.isascii() and char.isalnum():
        return char
    if char in names_of:  # RR before bb(R): Typst's own shorthand; of equals, the fewest modifiers
        return min(names_of[char], key=lambda n: (n.count("."), n))
    if alphabet and alphabet[1] in ALPHABETS:
        return f"{ALPHABETS[alphabet[1]]}({alphabet[2]})"
    return char if len(char) == 1 and char.isalpha() else ""  # a letter (ß, Ø) is a Typst name itself


def main() -> None:
    names_of: dict[str, list[str]] = {}
    for name, char in typst_symbols().items():
        names_of.setdefault(char, []).append(name)
    text = CATALOGUE.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    fields = list(rows[0])
    if "typst" not in fields:
        fields.insert(fields.index("unicode") + 1, "typst")
    for row in rows:
        row["typst"] = typst_name(row["latex"], row["unicode"], names_of)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    CATALOGUE.write_text(out.getvalue(), encoding="utf-8")
    missing = [row["latex"] for row in rows if not row["typst"]]
    print(f"{len(rows) - len(missing)} of {len(rows)} symbols have a Typst name; none for: {' '.join(missing)}")


if __name__ == "__main__":
    main()
