"""symbols: a handwritten math symbol -> its LaTeX command, with its package (HASYv2, 369 classes).

Each method imports its module when called: serving imports this class without torch or MLflow.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from farga.components import Component, Facts, ScaleRun
from farga.symbols.params import SymbolsContext, SymbolsParams

if TYPE_CHECKING:
    from farga.cards import Card
    from farga.checklist import Case
    from farga.components import ComponentService
    from farga.drift import Sample
    from farga.headline import Example, Headline
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore


class Symbols:
    name = "symbols"
    summary = "handwritten math symbol -> LaTeX command (HASYv2, 369 classes)"
    params = SymbolsParams

    def check(self, ctx: SymbolsContext) -> Facts:
        from farga.symbols.acquire import check

        return check(ctx)

    def fetch(self, ctx: SymbolsContext, archive: Path | None) -> Facts:
        from farga.symbols.acquire import fetch

        return fetch(ctx, archive)

    def prepare(self, ctx: SymbolsContext) -> Facts:
        from farga.symbols.prepare import prepare

        return prepare(ctx)

    def validate(self, ctx: SymbolsContext) -> Facts:
        from farga.symbols.contract import validate

        return validate(ctx)

    def validate_feedback(self, ctx: SymbolsContext, archive: Path) -> Facts:
        from farga.symbols.contract import validate_feedback

        return validate_feedback(ctx, archive)

    def train(self, ctx: SymbolsContext) -> Facts:
        from farga.symbols.join import train

        return train(ctx)

    def parts(self, ctx: SymbolsContext) -> list[str]:
        return list(ctx.config.train.specialists)

    def train_part(self, ctx: SymbolsContext, part: str) -> Facts:
        from farga.symbols.train import train_part

        return train_part(ctx, part)

    def trial(self, ctx: SymbolsContext, report: Callable[[int, float], None]) -> float:
        from farga.symbols.train import trial

        return trial(ctx, report)

    def evaluate(self, ctx: SymbolsContext) -> Facts:
        from farga.symbols.evaluate import evaluate

        return evaluate(ctx)

    def score(self, ctx: SymbolsContext, model_dir: Path) -> Facts:
        from farga.symbols.evaluate import score

        return score(ctx, model_dir)

    def cards(self, ctx: SymbolsContext, facts: Facts) -> dict[str, Card]:
        from farga.symbols.cards import card_sections

        return card_sections(ctx, facts)

    page_order = 0  # the tab the page opens on

    def service(self, settings: ServeSettings, store: FeedbackStore) -> ComponentService:
        from farga.symbols.service import service

        return service(settings, store)

    def export_feedback(self, ctx: SymbolsContext, store: FeedbackStore, dest: Path, accepted_only: bool) -> Facts:
        from farga.symbols.feedback import export_feedback

        return export_feedback(store, dest, ctx.config.feedback, accepted_only)

    def waiting_classes(self, ctx: SymbolsContext, store: FeedbackStore, sheets: Path) -> list[Facts]:
        from farga.symbols.review import waiting

        return waiting(store, ctx.config.feedback.new_symbols, sheets)

    def approve_class(
        self, ctx: SymbolsContext, store: FeedbackStore, label: str, decided_by: str, note: str, needs: str | None
    ) -> Facts:
        from farga.symbols.review import approve

        return approve(store, label, ctx.config.feedback.new_symbols, decided_by, needs, note)

    def refuse_class(self, ctx: SymbolsContext, store: FeedbackStore, label: str, decided_by: str, why: str) -> Facts:
        from farga.symbols.review import refuse

        return refuse(store, label, why, decided_by)

    def screen_feedback(self, ctx: SymbolsContext, store: FeedbackStore, model_dir: Path) -> list[Facts]:
        from farga.symbols.feedback import screen

        return screen(store, model_dir, ctx.config.feedback.quarantine)

    def behaviour(self, ctx: SymbolsContext, model_path: Path) -> list[Case]:
        from farga.symbols.behaviour import behaviour

        return behaviour(ctx, model_path)

    def drift_samples(self, model_dir: Path, inputs: list[bytes]) -> tuple[Sample, Sample]:
        from farga.symbols.monitoring import drift_samples

        return drift_samples(model_dir, inputs)

    def headline(self, reports: Path) -> Headline:
        from farga.symbols.headline import headline

        return headline(reports)

    def example(self) -> Example:
        from farga.headline import Example

        return Example(
            "/v1/symbols/predict",
            {"strokes": [[{"x": 0, "y": 0}, {"x": 40, "y": 40}], [{"x": 0, "y": 40}, {"x": 40, "y": 0}]], "top_k": 3},
        )

    def load_request(self, rng: random.Random) -> Facts:
        from farga.symbols.traffic import STROKES

        return STROKES

    def load_feedback(self, answer: Facts) -> tuple[Facts, str]:
        from farga.symbols.traffic import feedback

        return feedback(answer)

    @property
    def scale_run(self) -> ScaleRun:
        from farga.symbols.scaling import RUN

        return RUN

    def scale_params(self, section: Facts, epochs: int, threads: int) -> Facts:
        from farga.symbols.scaling import scale_params

        return scale_params(section, epochs, threads)

    def training_rate(self, root: Path) -> tuple[float, float]:
        from farga.symbols.scaling import training_rate

        return training_rate(root)

    def bench(self, root: Path, seconds: int, workers: int) -> str:
        from farga.symbols.bench import bench

        return bench(root, seconds, workers)


component: Component = Symbols()
