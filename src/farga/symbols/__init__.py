"""symbols: draw a math symbol, get its LaTeX command (a CNN trained on HASYv2)."""

from farga.components import Component

component = Component(
    name="symbols",
    summary="handwritten math symbol -> LaTeX command (HASYv2, 369 classes)",
    functions={
        "check": "farga.symbols.acquire:check",
        "fetch": "farga.symbols.acquire:fetch",
        "prepare": "farga.symbols.prepare:prepare",
        "validate": "farga.symbols.contract:validate",
        "validate_feedback": "farga.symbols.contract:validate_feedback",
        "train": "farga.symbols.train:train",
        "evaluate": "farga.symbols.evaluate:evaluate",
        "score": "farga.symbols.evaluate:score",
        "cards": "farga.symbols.cards:card_sections",
        "service": "farga.symbols.service:service",
        "export_feedback": "farga.symbols.feedback:export_feedback",
        "behaviour": "farga.symbols.behaviour:behaviour",
        "drift_samples": "farga.symbols.monitoring:drift_samples",
        "screen_feedback": "farga.symbols.feedback:screen",
        "bench": "farga.symbols.bench:bench",
    },
)
