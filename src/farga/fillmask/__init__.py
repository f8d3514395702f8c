"""fillmask: Catalan missing-word prediction (a small transformer trained from scratch on Catalan text)."""

from farga.components import Component

component = Component(
    name="fillmask",
    summary="Catalan sentence with <mask> -> the missing word (a transformer trained from scratch, 2.8M words)",
    functions={
        "check": "farga.fillmask.corpus:check",
        "fetch": "farga.fillmask.corpus:fetch",
        "prepare": "farga.fillmask.prepare:prepare",
        "validate": "farga.fillmask.contract:validate",
        "train": "farga.fillmask.train:train",
        "evaluate": "farga.fillmask.evaluate:evaluate",
        "score": "farga.fillmask.evaluate:score",
        "cards": "farga.fillmask.cards:card_sections",
        "service": "farga.fillmask.service:service",
        "behaviour": "farga.fillmask.behaviour:behaviour",
        "bench": "farga.fillmask.bench:bench",
    },
)
