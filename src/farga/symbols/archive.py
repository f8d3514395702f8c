"""Reading a HASYv2-layout archive (the public tarball, or the synthetic one made alike).

Both sources go through this one reader, so everything downstream sees the same format.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image
from rich.progress import Progress

from farga.errors import FargaError

LABELS = "hasy-data-labels.csv"
SYMBOLS = "symbols.csv"


class ArchiveError(FargaError, ValueError):
    """The archive is not a usable HASYv2-layout archive; the message lists what is wrong."""


@dataclass
class HasyArchive:
    labels: pd.DataFrame  # path, symbol_id, latex, user_id
    symbols: pd.DataFrame  # symbol_id, latex, ...
    folds: dict[int, dict[str, list[str]]]  # fold -> split -> image paths
    images: dict[str, np.ndarray] = field(repr=False)  # path -> (32, 32) uint8 grey
    bad_images: list[str] = field(default_factory=list)


def _strip(path: str) -> str:
    """Fold CSVs name images as ``../../hasy-data/x.png``; the labels file as ``hasy-data/x.png``."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("..", ".")]
    return str(PurePosixPath(*parts))


def _decode(data: bytes) -> np.ndarray | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.size != (32, 32):
                return None
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except (OSError, ValueError):
        return None


def read_archive(path: Path, *, progress: bool = True) -> HasyArchive:
    if not path.exists():
        raise ArchiveError(f"archive not found: {path}")
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"{path} is not a readable tar archive: {exc}") from exc
    csvs: dict[str, bytes] = {}
    images: dict[str, np.ndarray] = {}
    bad: list[str] = []
    with tar, Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task(f"reading {path.name}", total=None)
        for member in tar:
            if not member.isfile():
                continue
            name = _strip(member.name)
            # The public tarball has no top folder; tolerate one (a re-packed copy) all the same.
            for anchor in ("hasy-data/", LABELS, SYMBOLS, "classification-task/"):
                if anchor in name and not name.startswith(anchor):
                    name = name[name.index(anchor) :]
            fh = tar.extractfile(member)
            if fh is None:
                continue
            data = fh.read()
            if name.endswith(".png") and name.startswith("hasy-data/"):
                decoded = _decode(data)
                if decoded is None:
                    bad.append(name)
                else:
                    images[name] = decoded
                bar.advance(task)
            elif name.endswith(".csv"):
                csvs[name] = data
    missing = [n for n in (LABELS, SYMBOLS) if n not in csvs]
    if missing:
        raise ArchiveError(f"{path} lacks {', '.join(missing)}: not a HASYv2-layout archive")
    labels = pd.read_csv(io.BytesIO(csvs[LABELS]))
    labels["path"] = labels["path"].map(_strip)
    symbols = pd.read_csv(io.BytesIO(csvs[SYMBOLS]))
    folds: dict[int, dict[str, list[str]]] = {}
    for name, data in csvs.items():
        parts = PurePosixPath(name).parts
        if len(parts) == 3 and parts[0] == "classification-task" and parts[1].startswith("fold-"):
            split = PurePosixPath(name).stem
            frame = pd.read_csv(io.BytesIO(data))
            folds.setdefault(int(parts[1].removeprefix("fold-")), {})[split] = [_strip(p) for p in frame["path"]]
    return HasyArchive(labels=labels, symbols=symbols, folds=folds, images=images, bad_images=bad)


def write_archive(path: Path, archive: HasyArchive) -> Path:
    """Write a HASYv2-layout tar (used by the synthetic source and by tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0  # byte-identical archives for identical content
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(path, "w") as tar:
        for name in sorted(archive.images):
            buf = io.BytesIO()
            Image.fromarray(archive.images[name]).convert("RGB").save(buf, format="PNG")
            add(tar, name, buf.getvalue())
        add(tar, LABELS, archive.labels.to_csv(index=False).encode())
        add(tar, SYMBOLS, archive.symbols.to_csv(index=False).encode())
        for fold, splits in sorted(archive.folds.items()):
            for split, paths in splits.items():
                frame = pd.DataFrame({"path": [f"../../{p}" for p in paths]})
                add(tar, f"classification-task/fold-{fold}/{split}.csv", frame.to_csv(index=False).encode())
    return path
