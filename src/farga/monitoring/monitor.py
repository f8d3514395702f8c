"""``farga ops monitor``: drift of the latest logged predictions against the champion's reference.

Once: a JSON and a self-contained HTML report (plots inline), logged to MLflow. Watching: the same
every ``interval`` seconds, exported as Prometheus gauges for the drift alert and dashboard. The
monitor is its own process with the pipeline install: the serving image stays light.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from farga import components, params
from farga.drift import KINDS, DriftConfig, detect
from farga.hashing import write_json
from farga.serving.models import ModelSource
from farga.serving.settings import ServeSettings
from farga.serving.store import FeedbackStore

log = logging.getLogger("farga.monitor")


class Gauges:
    """The monitor's Prometheus metrics, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.score = Gauge(
            "farga_drift_score",
            "Drift score by kind (input: share of drifted features; embedding: domain-classifier AUC; "
            "prediction: Jensen-Shannon distance; confidence: Wasserstein distance in reference sd)",
            ["component", "kind"],
            registry=self.registry,
        )
        self.detected = Gauge(
            "farga_drift_detected",
            "1 when this kind of drift is detected",
            ["component", "kind"],
            registry=self.registry,
        )
        self.feature = Gauge(
            "farga_drift_feature_distance",
            "Wasserstein distance of an input feature, in reference standard deviations",
            ["component", "feature"],
            registry=self.registry,
        )
        self.window = Gauge(
            "farga_drift_window_size", "Predictions in the judged window", ["component"], registry=self.registry
        )
        self.last_run = Gauge(
            "farga_drift_last_run_timestamp_seconds",
            "When drift was last computed",
            ["component"],
            registry=self.registry,
        )
        self.reference = Gauge(
            "farga_drift_reference_info",
            "The model whose reference the window is compared with (value 1)",
            ["component", "version"],
            registry=self.registry,
        )

    def update(self, report: dict[str, Any]) -> None:
        component = report["component"]
        self.window.labels(component).set(report["window"])
        self.last_run.labels(component).set(report["window_read_at"])
        self.reference.clear()
        self.reference.labels(component, report["model_version"]).set(1)
        for kind in KINDS:
            result = report["kinds"].get(kind)
            if result is None:  # too few predictions to judge: no score rather than a reassuring 0
                with contextlib.suppress(KeyError):
                    self.score.remove(component, kind)
                self.detected.labels(component, kind).set(0)
                continue
            self.score.labels(component, kind).set(result["score"])
            self.detected.labels(component, kind).set(1 if result["drifted"] else 0)
        for name, result in report["kinds"].get("input", {}).get("features", {}).items():
            self.feature.labels(component, name).set(result["score"])


class Monitor:
    def __init__(self, component: str, settings: ServeSettings, rules: params.Monitor, out: Path):
        comp = components.get(component)
        if not isinstance(comp, components.Drifts):
            raise components.lacking(component, "drift monitoring")
        self.component = comp
        self.settings = settings
        self.cfg = DriftConfig.from_params(rules)
        self.window = rules.window
        self.out = out
        self.store = FeedbackStore(settings.resolved_database_url())
        self.source = ModelSource(
            component,
            registry_uri=settings.resolved_tracking_uri(),
            model_dir=settings.model_dir(component),
            cache=settings.cache_dir() / "monitor",  # its own copy: a service may be downloading beside it
        )

    def run_once(self, *, plots: bool = True) -> dict[str, Any]:
        version = self.source.current_version()
        model_dir = self.source.fetch(version)
        read_at = time.time()
        inputs = self.store.recent_inputs(self.component.name, self.window)
        started = time.perf_counter()
        reference, current = self.component.drift_samples(model_dir, inputs) if inputs else (None, None)
        if reference is None or current is None:
            report = {
                "window": 0,
                "judged": False,
                "reason": "no predictions logged yet",
                "drifted": False,
                "kinds": {},
            }
        else:
            report = detect(reference, current, self.cfg)
        report = {
            "component": self.component.name,
            "model_version": version,
            "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "window_read_at": read_at,
            "seconds": round(time.perf_counter() - started, 2),
            **report,
        }
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(self.out / "drift.json", report)
        for stale in ("drift.png", "drift.html"):  # a report of an earlier window must not pass for this one
            (self.out / stale).unlink(missing_ok=True)
        if plots and report["judged"]:
            from farga.plots import plot_drift

            figure = plot_drift(reference, current, report, self.out / "drift.png")
            write_html(report, figure, self.out / "drift.html")
        return report

    def watch(self, interval: float, host: str, port: int) -> None:
        import signal
        import threading

        from prometheus_client import start_http_server

        stop = threading.Event()
        # SIGTERM ends the loop between rounds (a container's PID 1 would otherwise ignore it)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        gauges = Gauges()
        start_http_server(port, addr=host, registry=gauges.registry)
        log.info(
            "monitor of %s exporting on http://%s:%d/metrics every %.0fs", self.component.name, host, port, interval
        )
        while not stop.is_set():
            try:
                report = self.run_once(plots=False)
                gauges.update(report)
                log.info("drift of %s: %s", self.component.name, summary_line(report))
            except Exception:  # a failed round is logged and retried; the exporter stays up
                log.exception("drift computation failed")
            stop.wait(interval)


def summary_line(report: dict[str, Any]) -> str:
    if not report["judged"]:
        return str(report["reason"])
    return (
        ", ".join(f"{kind} {r['score']:.2f}{' DRIFT' if r['drifted'] else ''}" for kind, r in report["kinds"].items())
        + f" (window {report['window']})"
    )


def write_html(report: dict[str, Any], figure: Path, path: Path) -> Path:
    """A self-contained page: the verdict per kind, per-feature numbers, the plots inline."""
    image = base64.b64encode(figure.read_bytes()).decode()

    def row(name: str, score: float, test: str, drifted: bool, flag: str) -> str:
        verdict = f"<td class={'bad' if drifted else 'ok'}>{flag if drifted else 'no'}</td>"
        return f"<tr><td>{html.escape(name)}</td><td>{score:.3f}</td><td>{html.escape(test)}</td>{verdict}</tr>"

    rows = [
        row(kind, r["score"], f"p={r['p_value']:.2g}" if "p_value" in r else "", r["drifted"], "drift")
        for kind, r in report["kinds"].items()
    ]
    for name, r in report["kinds"].get("input", {}).get("features", {}).items():
        test = f"p={r['p_value']:.2g}, mean {r['reference_mean']:.3f} -> {r['current_mean']:.3f}"
        rows.append(row(f"  input: {name}", r["score"], test, r["drifted"], "drift"))
    page = f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>Farga drift: {html.escape(report["component"])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}
td,th{{padding:.2em .8em;text-align:left}}.bad{{color:#b00;font-weight:bold}}.ok{{color:#070}}</style>
<h1>Drift of {html.escape(report["component"])}: {"DRIFT" if report["drifted"] else "no drift"}</h1>
<p>Window of the latest {report["window"]} predictions against {report.get("reference", 0)} reference samples of
champion v{html.escape(str(report["model_version"]))}, computed {html.escape(report["computed_at"])}.</p>
<table><tr><th>kind</th><th>score</th><th>test</th><th>verdict</th></tr>{"".join(rows)}</table>
<img alt="reference against current" src="data:image/png;base64,{image}" style="max-width:100%">
<details><summary>raw report</summary><pre>{html.escape(json.dumps(report, indent=2))}</pre></details></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def log_drift(report: dict[str, Any], out: Path, settings: ServeSettings) -> None:
    """A judged drift report goes to MLflow (experiment <component>-monitoring): scores, plot, page."""
    if not report["judged"]:
        return
    from farga import tracking

    with tracking.run(settings, f"{report['component']}-monitoring", run_name=f"drift-v{report['model_version']}"):
        import mlflow

        mlflow.set_tags({"model_version": report["model_version"], "drifted": report["drifted"]})
        mlflow.log_metrics({f"drift_{k}": v["score"] for k, v in report["kinds"].items()})
        mlflow.log_metric("window", report["window"])
        for name in ("drift.html", "drift.png", "drift.json"):
            mlflow.log_artifact(str(out / name), artifact_path="drift")
