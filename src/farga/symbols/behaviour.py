"""Behavioural tests of a symbols model: what may vary in a drawing, and what must change the answer.

Every perturbed input goes through the serving preprocessing (``fit_to_box``), so these test what a
user gets, model and preprocessing together:

- minimum functionality: clean renders of the most frequent training classes are recognised (top-1,
  up to a confusable group: a clean ``O`` read as ``0`` is no failure of the model);
- invariance: a test drawing the model gets right (true class in its top 3) keeps the true class in
  the top 3 when shifted, shrunk, drawn with a thicker pen or rotated slightly;
- directional: a drawing of ``\\rightarrow`` rotated 180 degrees must read as ``\\leftarrow`` (in the
  top 3, and above the original class), and likewise ``\\uparrow``/``\\downarrow``, ``\\subset``/``\\supset``
  mirrored, ``<``/``>`` mirrored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from farga.checklist import Case
from farga.onnx_runtime import OnnxModel
from farga.symbols import catalogue
from farga.symbols.params import SymbolsContext
from farga.symbols.prepare import load_split
from farga.symbols.preprocess import fit_to_box, to_model_input

UP = 4  # perturbations are drawn at 4x the model's resolution, as a canvas would be
Perturb = Callable[[np.ndarray], np.ndarray]


def _big(ink: np.ndarray) -> Image.Image:
    return Image.fromarray(ink).resize((ink.shape[1] * UP, ink.shape[0] * UP), Image.Resampling.NEAREST)


def _on_canvas(img: Image.Image, left: int, top: int, side: int) -> np.ndarray:
    canvas = Image.new("L", (side, side), 0)
    canvas.paste(img, (left, top))
    return fit_to_box(np.asarray(canvas))


def shift(ink: np.ndarray) -> np.ndarray:
    big = _big(ink)
    return _on_canvas(big, 3 * UP * 4, UP * 4, big.width * 2)


def shrink(ink: np.ndarray) -> np.ndarray:
    big = _big(ink)
    small = big.resize((big.width * 7 // 10, big.height * 7 // 10), Image.Resampling.BOX)
    return _on_canvas(small, UP * 8, UP * 2, big.width)


def thicker_pen(ink: np.ndarray) -> np.ndarray:
    return fit_to_box(np.asarray(_big(ink).filter(ImageFilter.MaxFilter(UP + 1))))


def rotate(degrees: float) -> Perturb:
    def turn(ink: np.ndarray) -> np.ndarray:
        turned = _big(ink).rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=0)
        return fit_to_box(np.asarray(turned))

    return turn


INVARIANCE: dict[str, Perturb] = {
    "shifted off centre": shift,
    "drawn at 70% size": shrink,
    "thicker pen": thicker_pen,
    "rotated 10 degrees left": rotate(10),
    "rotated 10 degrees right": rotate(-10),
}


def rotate_180(ink: np.ndarray) -> np.ndarray:
    return fit_to_box(np.ascontiguousarray(ink[::-1, ::-1]))


def mirror(ink: np.ndarray) -> np.ndarray:
    return fit_to_box(np.ascontiguousarray(ink[:, ::-1]))


DIRECTIONAL: tuple[tuple[str, str, str, Perturb], ...] = (
    (r"\rightarrow", r"\leftarrow", "rotated 180 degrees", rotate_180),
    (r"\leftarrow", r"\rightarrow", "rotated 180 degrees", rotate_180),
    (r"\uparrow", r"\downarrow", "rotated 180 degrees", rotate_180),
    (r"\downarrow", r"\uparrow", "rotated 180 degrees", rotate_180),
    (r"\subset", r"\supset", "mirrored", mirror),
    (r"\supset", r"\subset", "mirrored", mirror),
    ("<", ">", "mirrored", mirror),
    (">", "<", "mirrored", mirror),
)


class Scorer:
    """The model's probabilities for batches of ink maps, and its classes by LaTeX command."""

    def __init__(self, model: OnnxModel):
        self.model = model
        self.latex = [str(c["latex"]) for c in model.labels]
        self.index = {name: i for i, name in enumerate(self.latex)}
        self.group = dict(zip(self.latex, catalogue.confusable_index(self.latex), strict=True))

    def probs(self, inks: np.ndarray) -> np.ndarray:
        if len(inks) == 0:
            return np.empty((0, len(self.latex)), dtype=np.float32)
        return np.concatenate(
            [self.model.run(to_model_input(inks[i : i + 1024]))["probabilities"] for i in range(0, len(inks), 1024)]
        )

    def top(self, probs: np.ndarray, k: int = 3) -> list[str]:
        return [self.latex[i] for i in np.argsort(-probs)[:k]]


def minimum_functionality(scorer: Scorer, train_counts: dict[str, int], n_classes: int) -> list[Case]:
    from farga.symbols.synthetic import render_glyph

    known = catalogue.by_latex()
    learnable = (c for c in train_counts if c in scorer.index and c in known)  # a learnt command has no render
    frequent = sorted(learnable, key=lambda c: (-train_counts[c], c))[:n_classes]
    renders = np.stack([fit_to_box((render_glyph(known[c].render) * 255).astype(np.uint8)) for c in frequent])
    cases = []
    for name, probs in zip(frequent, scorer.probs(renders), strict=True):
        first = scorer.top(probs, 1)[0]
        cases.append(
            Case(
                "minimum_functionality",
                "minimum functionality: a clean render is recognised",
                known[name].family,
                name,
                scorer.group[first] == scorer.group[name],
                f"top-1 {first} ({probs.max():.2f})",
            )
        )
    return cases


def invariance(scorer: Scorer, inks: np.ndarray, truth: list[str]) -> list[Case]:
    """Only drawings the model gets right (true class in its top 3) can show that a change breaks it."""
    known = catalogue.by_latex()
    base = scorer.probs(inks)
    right = [i for i, (p, t) in enumerate(zip(base, truth, strict=True)) if t in scorer.top(p)]
    cases = []
    for test, perturb in INVARIANCE.items():
        changed = np.stack([perturb(inks[i]) for i in right]) if right else np.empty((0, 32, 32), np.uint8)
        for i, probs in zip(right, scorer.probs(changed), strict=True):
            top = scorer.top(probs)
            cases.append(
                Case(
                    "invariance",
                    f"invariance: {test}",
                    known[truth[i]].family,
                    truth[i],
                    truth[i] in top,
                    "top-3 " + " ".join(top),
                )
            )
    return cases


def directional(scorer: Scorer, inks: np.ndarray, truth: list[str]) -> list[Case]:
    known = catalogue.by_latex()
    base = scorer.probs(inks)
    cases = []
    for source, target, how, perturb in DIRECTIONAL:
        if source not in scorer.index or target not in scorer.index:
            continue
        picked = [i for i, t in enumerate(truth) if t == source and source in scorer.top(base[i])]
        changed = np.stack([perturb(inks[i]) for i in picked]) if picked else np.empty((0, 32, 32), np.uint8)
        for probs in scorer.probs(changed):
            top = scorer.top(probs)
            moved = target in top and probs[scorer.index[target]] > probs[scorer.index[source]]
            cases.append(
                Case(
                    "directional",
                    f"directional: {source} {how} -> {target}",
                    known[source].family,
                    source,
                    bool(moved),
                    "top-3 " + " ".join(top),
                )
            )
    return cases


def behaviour(ctx: SymbolsContext, model_path: Path) -> list[Case]:
    """Every behavioural case for the model at ``model_path``, on the prepared data's test split."""
    rules = ctx.config.behaviour
    scorer = Scorer(OnnxModel.load(model_path))
    prepared = ctx.paths.prepared
    images, _, manifest = load_split(prepared, "test")
    _, _, train_manifest = load_split(prepared, "train")
    known = catalogue.by_id()  # the test split holds catalogue symbols only; training may hold learnt ones
    latex = dict(zip(train_manifest.symbol_id.tolist(), train_manifest.latex.tolist(), strict=True))
    counts = np.unique(train_manifest.symbol_id.to_numpy(), return_counts=True)
    train_counts = {latex[int(i)]: int(n) for i, n in zip(*counts, strict=True)}

    rng = np.random.default_rng(rules.seed)
    per_class = rules.samples_per_class
    directional_names = {name for pair in DIRECTIONAL for name in pair[:2]}
    symbol_ids = manifest.symbol_id.to_numpy()
    picked: list[int] = []
    for symbol_id in np.unique(symbol_ids):
        rows = np.flatnonzero(symbol_ids == symbol_id)
        n = len(rows) if known[int(symbol_id)].latex in directional_names else min(per_class, len(rows))
        picked.extend(sorted(rng.choice(rows, size=n, replace=False).tolist()))
    inks = images[picked]
    truth = [known[int(i)].latex for i in symbol_ids[picked]]
    return [
        *minimum_functionality(scorer, train_counts, rules.frequent_classes),
        *invariance(scorer, inks, truth),
        *directional(scorer, inks, truth),
    ]
