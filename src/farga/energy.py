"""Energy and emissions of a piece of work, measured with CodeCarbon's offline tracker.

These machines expose no power counters (no RAPL), so CodeCarbon *estimates* power from CPU load
and a fixed figure for memory; every figure written here carries that caveat with it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CAVEAT = (
    "estimate: this machine has no power counters (no RAPL); CodeCarbon derives power from CPU load "
    "and a fixed RAM figure, and emissions from the country's average grid intensity"
)


@contextmanager
def track(task: str, country: str | None = None) -> Iterator[dict[str, Any]]:
    """Yields a dict that holds the figures once the block has finished."""
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    result: dict[str, Any] = {"task": task, "caveat": CAVEAT}
    tracker = OfflineEmissionsTracker(
        project_name=f"farga-{task}",
        country_iso_code=country or os.environ.get("FARGA_ENERGY_COUNTRY", "ESP"),
        save_to_file=False,
        log_level="error",
        measure_power_secs=15,
        allow_multiple_runs=True,
    )
    tracker.start()
    try:
        yield result
    finally:
        emissions = tracker.stop() or 0.0
        data = tracker.final_emissions_data
        result.update(
            emissions_kg_co2eq=float(emissions),
            energy_kwh=float(data.energy_consumed) if data else 0.0,
            duration_s=float(data.duration) if data else 0.0,
            cpu_power_w=float(data.cpu_power) if data else 0.0,
            country=data.country_iso_code if data else None,
        )


def summed(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one task as one (a model trained in parts): energy, emissions and time add up."""
    added = ("energy_kwh", "emissions_kg_co2eq", "duration_s")
    return {**results[0], **{key: sum(float(r[key]) for r in results) for key in added}}


def as_metrics(result: dict[str, Any]) -> dict[str, float]:
    task = result["task"]
    return {
        f"{task}_energy_kwh": result["energy_kwh"],
        f"{task}_emissions_kg_co2eq": result["emissions_kg_co2eq"],
    }
