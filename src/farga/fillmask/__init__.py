"""fillmask: a Catalan sentence with ``<mask>`` -> the missing word (a transformer trained from scratch).

Each method imports its module when called: serving imports this class without torch or MLflow.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

from farga.components import Component, Facts
from farga.fillmask.params import FillmaskContext, FillmaskParams

if TYPE_CHECKING:
    from farga.cards import Card
    from farga.checklist import Case
    from farga.components import ComponentService
    from farga.headline import Example, Headline
    from farga.serving.settings import ServeSettings
    from farga.serving.store import FeedbackStore


class Fillmask:
    name = "fillmask"
    summary = "Catalan sentence with <mask> -> the missing word (a transformer trained from scratch, 2.8M words)"
    params = FillmaskParams

    def check(self, ctx: FillmaskContext) -> Facts:
        from farga.fillmask.corpus import check

        return check(ctx)

    def fetch(self, ctx: FillmaskContext, archive: Path | None) -> Facts:
        from farga.fillmask.corpus import fetch

        return fetch(ctx, archive)

    def prepare(self, ctx: FillmaskContext) -> Facts:
        from farga.fillmask.prepare import prepare

        return prepare(ctx)

    def validate(self, ctx: FillmaskContext) -> Facts:
        from farga.fillmask.contract import validate

        return validate(ctx)

    def train(self, ctx: FillmaskContext) -> Facts:
        from farga.fillmask.train import train

        return train(ctx)

    def evaluate(self, ctx: FillmaskContext) -> Facts:
        from farga.fillmask.evaluate import evaluate

        return evaluate(ctx)

    def score(self, ctx: FillmaskContext, model_dir: Path) -> Facts:
        from farga.fillmask.evaluate import score

        return score(ctx, model_dir)

    def cards(self, ctx: FillmaskContext, facts: Facts) -> dict[str, Card]:
        from farga.fillmask.cards import card_sections

        return card_sections(ctx, facts)

    page_order = 10  # after symbols

    def service(self, settings: ServeSettings, store: FeedbackStore) -> ComponentService:
        from farga.fillmask.service import service

        return service(settings, store)

    def behaviour(self, ctx: FillmaskContext, model_path: Path) -> list[Case]:
        from farga.fillmask.behaviour import behaviour

        return behaviour(ctx, model_path)

    def headline(self, reports: Path) -> Headline:
        from farga.fillmask.headline import headline

        return headline(reports)

    def example(self) -> Example:
        from farga.headline import Example

        return Example("/v1/fillmask/predict", {"text": "La capital de Catalunya és <mask>.", "top_k": 3})

    def load_request(self, rng: random.Random) -> Facts:
        from farga.fillmask.traffic import request

        return request(rng)

    def load_feedback(self, answer: Facts) -> tuple[Facts, str]:
        from farga.fillmask.traffic import feedback

        return feedback(answer)

    def bench(self, root: Path, seconds: int, workers: int) -> str:
        from farga.fillmask.bench import bench

        return bench(root, seconds, workers)


component: Component = Fillmask()
