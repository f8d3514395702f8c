"""Getting the Catalan corpus and proving that what arrived is that corpus.

Where from, in order: ``--archive PATH`` (the folder of 25 ``*.txt.gz`` files); ``$FARGA_CATALAN_CORPUS``;
``data/external/catalan``. The cleaned corpus is not downloadable as one file: its public sources
(``sources.py``) are listed, with licences, in the error that says where to put it and in the dataset
card. Or, when ``data.source`` is ``synthetic``, a generated stand-in (``synthetic.py``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from farga.errors import FargaError
from farga.facts import Facts
from farga.fillmask.params import FillmaskContext
from farga.fillmask.sources import SOURCES, by_file
from farga.fillmask.synthetic import write_synthetic
from farga.hashing import read_json, sha256_file, write_json

CORPUS_ENV = "FARGA_CATALAN_CORPUS"
_URL = re.compile(r"https?://|\bwww\.\w|<[a-z/][^>]*>", re.IGNORECASE)
_SENTENCE_END = tuple(".!?…»\"')”:;")


class FetchError(FargaError, RuntimeError):
    """The corpus could not be obtained or is not what it claims to be."""


def remedies() -> str:
    sources = "\n".join(f"    {s.file}: {s.origin} ({s.licence})" for s in SOURCES)
    return (
        "Supply the corpus folder (the 25 cleaned *.txt.gz files) in one of these ways:\n"
        f"  1. `farga data fetch fillmask --archive DIR`, or `export {CORPUS_ENV}=DIR` (DVC and `make run` read it),"
        " or place the files in data/external/catalan/;\n"
        "  2. generated demo text instead: `fillmask.data.source: synthetic` in params.yaml.\n"
        f"  The files' public sources:\n{sources}"
    )


def locate(root: Path, archive: Path | None) -> Path:
    for label, candidate in (("--archive", archive), (f"${CORPUS_ENV}", os.environ.get(CORPUS_ENV) or None)):
        if candidate is not None:
            if not Path(candidate).is_dir():
                raise FetchError(f"{label} {candidate} is not a folder.\n{remedies()}")
            return Path(candidate)
    external = root / "data" / "external" / "catalan"
    if external.is_dir():
        return external
    raise FetchError(f"no Catalan corpus found.\n{remedies()}")


def read_lines(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8", errors="strict", newline="\n") as fh:
        for line in fh:
            yield line.rstrip("\n")


def inspect(path: Path) -> dict[str, Any]:
    """Counts and cleaning checks for one file; the line digests catch duplicates across files."""
    lines = words = short = unended = urls = 0
    digests: set[bytes] = set()
    try:
        for line in read_lines(path):
            lines += 1
            n = len(line.split())
            words += n
            short += n < 5
            unended += not line.rstrip().endswith(_SENTENCE_END)
            urls += bool(_URL.search(line))
            digests.add(hashlib.blake2b(line.encode(), digest_size=8).digest())
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise FetchError(f"{path.name} is not gzipped UTF-8 text: {exc}") from exc
    return {
        "lines": lines,
        "words": words,
        "short_lines": short,
        "unended_lines": unended,
        "url_or_markup_lines": urls,
        "unique_lines": len(digests),
        "digests": digests,
    }


def verify(folder: Path, files: list[str], *, expected: bool) -> dict[str, Any]:
    """Every file present and decodable, clean as the card says, no line in two files; with
    ``expected``, line and word counts equal to those of the published cleaned copy."""
    problems: list[str] = []
    known = by_file()
    manifest: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    duplicates = 0
    for name in files:
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        try:
            facts = inspect(path)
        except FetchError as exc:
            problems.append(str(exc))
            continue
        digests = facts.pop("digests")
        duplicates += facts["lines"] - facts["unique_lines"] + len(digests & seen)
        seen |= digests
        if facts["lines"] == 0:
            problems.append(f"{name} is empty")
        if expected:
            source = known[name]
            for key in ("lines", "words"):
                if facts[key] != getattr(source, key):
                    problems.append(f"{name}: {facts[key]} {key}, the cleaned corpus has {getattr(source, key)}")
        for key in ("short_lines", "url_or_markup_lines"):
            if facts[key]:
                problems.append(f"{name}: {facts[key]} {key.replace('_', ' ')}")
        entry = {"file": name, "sha256": sha256_file(path), **facts}
        if name in known:
            entry.update(origin=known[name].origin, licence=known[name].licence)
        manifest.append(entry)
    if duplicates:
        problems.append(f"{duplicates} lines occur more than once (the corpus is de-duplicated)")
    if problems:
        raise FetchError("the corpus failed verification:\n  - " + "\n  - ".join(problems))
    return {
        "files": manifest,
        "lines": sum(f["lines"] for f in manifest),
        "words": sum(f["words"] for f in manifest),
    }


def fetch(ctx: FillmaskContext, archive: Path | None = None) -> Facts:
    cfg = ctx.config.data
    source, raw = cfg.source, ctx.paths.raw
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    if source == "catalan":
        origin = locate(ctx.settings.root, archive)
        files = [s.file for s in SOURCES]
        for name in files:
            if (origin / name).is_file():
                shutil.copyfile(origin / name, raw / name)
        label = str(origin)
    elif source == "synthetic":
        files = write_synthetic(raw, cfg.synthetic)
        label = "synthetic (generated Catalan-like sentences, see synthetic.py)"
    else:
        raise FetchError(f"unknown data.source {source!r}: use 'catalan' or 'synthetic'")
    report = verify(raw, files, expected=source == "catalan")
    info = {"source": source, "origin": label, **report}
    info["sha256"] = hashlib.sha256("".join(f["sha256"] for f in report["files"]).encode()).hexdigest()
    write_json(raw / "fetch.json", info)
    return {k: v for k, v in info.items() if k != "files"} | {"file_count": len(report["files"])}


def manifest(raw: Path) -> dict[str, Any]:
    facts: dict[str, Any] = read_json(raw / "fetch.json")
    return facts


def check(ctx: FillmaskContext) -> Facts:
    """Preflight for ``make run``: find the corpus before the pipeline starts."""
    source = ctx.config.data.source
    if source != "catalan":
        return {"source": source, "corpus": None}
    return {"source": source, "corpus": str(locate(ctx.settings.root, None))}
