"""Getting HASYv2 the way a user would, and proving that what arrived is HASYv2.

Where from, in order: ``--archive PATH``; ``$FARGA_HASYV2_ARCHIVE``; ``data/external/HASYv2.tar.bz2``;
the public archive on Zenodo (record 259444), downloaded to ``data/external``. Or, when
``data.source`` is ``synthetic``, a rendered stand-in (see ``synthetic.py``).
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

from farga.errors import FargaError
from farga.facts import Facts
from farga.hashing import sha256_file, write_json
from farga.symbols import catalogue
from farga.symbols.archive import HasyArchive, read_archive
from farga.symbols.params import SymbolsContext
from farga.symbols.synthetic import write_synthetic

ZENODO_URL = "https://zenodo.org/record/259444/files/HASYv2.tar.bz2"
ARCHIVE_ENV = "FARGA_HASYV2_ARCHIVE"
URL_ENV = "FARGA_HASYV2_URL"  # a mirror of the public archive
ARCHIVE_NAME = "HASYv2.tar.bz2"


class FetchError(FargaError, RuntimeError):
    """The data could not be obtained or is not what it claims to be."""


def remedies() -> str:
    return (
        "Supply the archive in one of two ways:\n"
        f"  1. a local copy of {ARCHIVE_NAME}: `farga data fetch symbols --archive PATH`, or "
        f"`export {ARCHIVE_ENV}=PATH` (DVC and `make run` read it), or place it at data/external/{ARCHIVE_NAME};\n"
        "  2. the synthetic demo data instead of real handwriting: set `symbols.data.source: synthetic` "
        "in params.yaml (or `dvc exp run -S symbols.data.source=synthetic`); models trained on it say so "
        "in their card."
    )


def download(url: str, dest: Path, timeout: float = 30.0) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, part.open("wb") as fh:  # noqa: S310
            total = int(resp.headers.get("Content-Length") or 0) or None
            with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()) as bar:
                task = bar.add_task(f"downloading {dest.name}", total=total)
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
                    bar.advance(task, len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        raise FetchError(f"could not download {url}: {exc}\n{remedies()}") from exc
    part.replace(dest)
    return dest


def locate_archive(root: Path, archive: Path | None) -> Path:
    if archive is not None:
        if not archive.is_file():
            raise FetchError(f"--archive {archive} does not exist or is not a file.\n{remedies()}")
        return archive
    env = os.environ.get(ARCHIVE_ENV)
    if env:
        if not Path(env).is_file():
            raise FetchError(f"${ARCHIVE_ENV} points at {env}, which does not exist.\n{remedies()}")
        return Path(env)
    external = root / "data" / "external" / ARCHIVE_NAME
    if external.is_file():
        return external
    return download(os.environ.get(URL_ENV, ZENODO_URL), external)


def verify(archive: HasyArchive, *, full_catalogue: bool) -> dict[str, Any]:
    """Internal consistency, not a fixed total, so the public archive and rebuilt copies both pass."""
    problems: list[str] = []
    known = catalogue.by_id()
    labels, symbols = archive.labels, archive.symbols
    for sid, latex in zip(symbols.symbol_id.astype(int), symbols.latex, strict=True):
        sym = known.get(sid)
        if sym is None or sym.latex != latex:
            problems.append(f"symbol {sid} {latex!r} is not in the catalogue")
    expected = len(known) if full_catalogue else len(symbols)
    if symbols.symbol_id.nunique() != expected:
        problems.append(f"{symbols.symbol_id.nunique()} classes in symbols.csv, expected {expected}")
    stray = set(labels.symbol_id) - set(symbols.symbol_id)
    if stray:
        problems.append(f"{len(stray)} labels outside symbols.csv, e.g. {sorted(stray)[:5]}")
    missing = [p for p in labels.path if p not in archive.images]
    if archive.bad_images:
        problems.append(f"{len(archive.bad_images)} images do not decode to 32x32, e.g. {archive.bad_images[:3]}")
    if missing:
        problems.append(f"{len(missing)} labelled images missing from the archive, e.g. {missing[:3]}")
    labelled = set(labels.path)
    for fold, splits in sorted(archive.folds.items()):
        train, test = set(splits.get("train", [])), set(splits.get("test", []))
        if train & test:
            problems.append(f"fold {fold}: {len(train & test)} images in both train and test")
        if train | test != labelled:
            problems.append(f"fold {fold}: train and test do not partition the labelled images")
    if not archive.folds:
        problems.append("no classification-task/fold-k splits")
    if problems:
        raise FetchError("the archive failed verification:\n  - " + "\n  - ".join(problems))
    return {
        "images": len(labels),
        "classes": int(symbols.symbol_id.nunique()),
        "writers": int(labels.user_id.nunique()),
        "folds": sorted(archive.folds),
    }


def fetch(ctx: SymbolsContext, archive: Path | None = None) -> Facts:
    cfg = ctx.config.data
    source = cfg.source
    raw = ctx.paths.raw
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    if source == "hasyv2":
        origin = locate_archive(ctx.settings.root, archive)
        target = raw / ARCHIVE_NAME
        shutil.copyfile(origin, target)
        origin_label = str(origin)
    elif source == "synthetic":
        target = write_synthetic(raw / "synthetic.tar", cfg.synthetic)
        origin_label = "synthetic (matplotlib mathtext renders with handwriting-like distortion)"
    else:
        raise FetchError(f"unknown data.source {source!r}: use 'hasyv2' or 'synthetic'")
    report = verify(read_archive(target), full_catalogue=source == "hasyv2")
    info = {
        "source": source,
        "origin": origin_label,
        "file": target.name,
        "sha256": sha256_file(target),
        **report,
    }
    write_json(raw / "fetch.json", info)
    return info


def check(ctx: SymbolsContext) -> Facts:
    """Preflight for ``make run``: find (or download) the archive before the pipeline starts."""
    source = ctx.config.data.source
    if source != "hasyv2":
        return {"source": source, "archive": None}
    return {"source": source, "archive": str(locate_archive(ctx.settings.root, None))}
