"""Grafana dashboards as code: the provisioned JSON under deploy/grafana/dashboards is generated here.

``farga dev dashboards --out deploy/grafana/dashboards`` writes them; a test fails when the committed files
differ from what this module generates, so a renamed metric cannot leave a dashboard silently empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}


def panel(
    title: str, exprs: dict[str, str], x: int, y: int, unit: str = "short", kind: str = "timeseries"
) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (legend, expr) in enumerate(exprs.items())
        ],
    }


def dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "uid": uid,
        "title": title,
        "tags": ["farga"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "panels": panels,
    }


LATENCY = "farga_http_request_duration_seconds"
ALL_REQUESTS = f"sum(rate({LATENCY}_count[5m]))"
CONFIDENCE = "farga_prediction_confidence_bucket"


def service() -> dict[str, Any]:
    quantile = 'histogram_quantile({q}, sum by (le) (rate({m}_bucket{{route!~"/metrics|/healthz|/readyz"}}[5m])))'
    return dashboard(
        "farga-service",
        "Farga: service",
        [
            panel(
                "Requests per second by route",
                {"{{route}}": f"sum by (route) (rate({LATENCY}_count[5m]))"},
                0,
                0,
                "reqps",
            ),
            panel(
                "Latency percentiles (API routes)",
                {f"p{int(q * 100)}": quantile.format(q=q, m=LATENCY) for q in (0.5, 0.9, 0.99)},
                12,
                0,
                "s",
            ),
            panel(
                "Errors: share of 5xx and 4xx",
                {
                    code: f'sum(rate({LATENCY}_count{{status=~"{code[0]}.."}}[5m])) / clamp_min({ALL_REQUESTS}, 1e-9)'
                    for code in ("5xx", "4xx")
                },
                0,
                8,
                "percentunit",
            ),
            panel(
                "Model reloads by outcome",
                {"{{component}} {{outcome}}": "sum by (component, outcome) (increase(farga_model_reloads_total[1h]))"},
                12,
                8,
            ),
        ],
    )


def model() -> dict[str, Any]:
    return dashboard(
        "farga-model",
        "Farga: model",
        [
            panel(
                "Top-1 class mix (top 10 classes)",
                {"{{label}}": "topk(10, sum by (label) (rate(farga_predictions_total[15m])))"},
                0,
                0,
                "reqps",
            ),
            panel(
                "Top-1 confidence (median and 10th percentile)",
                {
                    f"p{int(q * 100)}": f"histogram_quantile({q}, sum by (le) (rate({CONFIDENCE}[15m])))"
                    for q in (0.5, 0.1)
                },
                12,
                0,
                "percentunit",
            ),
            panel(
                "User feedback by agreement",
                {"{{agreement}}": "sum by (agreement) (rate(farga_feedback_total[1h]))"},
                0,
                8,
            ),
            panel(
                "Model version served",
                {"{{component}} v{{version}}": "max by (component, version) (farga_model_info)"},
                12,
                8,
                kind="state-timeline",
            ),
            panel(
                "Users disagree / answers 'not sure'",
                {
                    "feedback disagreeing": 'sum(rate(farga_feedback_total{agreement=~"disagree.*"}[1h]))'
                    " / clamp_min(sum(rate(farga_feedback_total[1h])), 1e-9)",
                    "answers not sure": "sum(rate(farga_predictions_unsure_total[15m]))"
                    " / clamp_min(sum(rate(farga_predictions_total[15m])), 1e-9)",
                },
                0,
                16,
                "percentunit",
            ),
            panel(
                "Drift score by kind (farga ops monitor)",
                {"{{component}} {{kind}}": "max by (component, kind) (farga_drift_score)"},
                12,
                16,
            ),
            panel(
                "Drift detected",
                {"{{component}} {{kind}}": "max by (component, kind) (farga_drift_detected)"},
                0,
                24,
                kind="state-timeline",
            ),
            panel(
                "Input feature drift (Wasserstein, reference sd)",
                {"{{feature}}": "max by (feature) (farga_drift_feature_distance)"},
                12,
                24,
            ),
        ],
    )


DASHBOARDS = {"farga-service.json": service, "farga-model.json": model}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render().items():
        (out / name).write_text(text, encoding="utf-8")
        paths.append(out / name)
    return paths


def render_panels(prometheus: str, start: float, end: float, out: Path, step: float = 1.0) -> dict[str, int]:
    """Every panel as a PNG, drawn from a Prometheus's recorded data over [start, end] with the
    dashboards' own queries; returns {panel title: lines drawn} (0: the queries found no data)."""
    import urllib.parse

    import matplotlib

    from farga.http import request_json

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    drawn = {}
    for build in DASHBOARDS.values():
        board = build()
        for p in board["panels"]:
            fig, ax = plt.subplots(figsize=(7, 3))
            lines = 0
            for target in p["targets"]:
                query = urllib.parse.urlencode({"query": target["expr"], "start": start, "end": end, "step": step})
                series = request_json(f"{prometheus}/api/v1/query_range?{query}", what="Prometheus")["data"]["result"]
                for s in series:
                    label = target["legendFormat"]
                    for key, value in s["metric"].items():
                        label = label.replace("{{" + key + "}}", value)
                    times = [float(t) - start for t, _ in s["values"]]
                    ax.plot(times, [float(v) for _, v in s["values"]], label=label, drawstyle="steps-post")
                    lines += 1
            ax.set_title(p["title"], fontsize=10)
            ax.set_xlabel("seconds into the recorded run")
            if lines:
                ax.legend(fontsize=7, loc="upper left", ncol=2)
            else:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            fig.tight_layout()
            name = "".join(c if c.isalnum() else "-" for c in p["title"].lower()).strip("-")
            path = out / f"{board['uid']}--{'-'.join(filter(None, name.split('-')))}.png"
            fig.savefig(path, dpi=80)
            plt.close(fig)
            drawn[p["title"]] = lines
    return drawn
