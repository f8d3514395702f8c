"""The monitoring and feedback loop end to end, on synthetic data, with real processes on 127.0.0.1:
the service (2 workers), the drift monitor, and Prometheus evaluating the project's own alert rules.

Normal traffic raises nothing; shifted traffic (much thicker strokes, three classes) raises the drift
gauges and the drift alert; users correct the shifted predictions (and a few give wrong labels,
which screening quarantines); three people teach it a symbol the catalogue lacks (``\\spadesuit``,
typed under "None of these"); ``farga ops retrain`` trains a challenger on HASYv2-like data + accepted
feedback, with the new symbol as a class, and promotes it; the service switches to it while traffic
flows, with no failed request, and then recognises the new symbol.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from scipy import ndimage

from api_support import ADMIN_KEY, png
from loop_support import Processes, Prometheus, free_port, prometheus_config, wait_for
from support import dvc_project, tiny_params, tool, venv_env

pytestmark = pytest.mark.e2e
WINDOW = 150
NEW_SYMBOL = r"\spadesuit"  # not in the catalogue: its users teach it
TAUGHT, UNSEEN = 45, 20  # drawings of it sent with feedback, and new ones asked about after the swap


def scenario_params() -> dict[str, Any]:
    """Small enough for CI, large enough that drift and promotion are decided by signal, not noise."""
    params = tiny_params()
    sym = params["symbols"]
    sym["data"]["synthetic"].update(classes=12, samples_per_class=150, writers=4)
    sym["data"]["val_fraction"] = 0.15
    sym["contract"]["split_share"]["val"] = [0.02, 0.2]
    sym["train"].update(epochs=6)
    sym["train"]["model"].update(channels=[16, 32, 64], hidden=128)
    sym["train"]["export"]["reference_samples"] = 2000
    sym["monitor"].update(window=WINDOW, min_samples=100)
    # a family slice of 12 synthetic classes holds a dozen test drawings: one drawing moves it 7 points
    sym["register"]["slice_tolerance"] = 0.1
    # the shipped rules, but one day: the scenario runs in minutes
    sym["feedback"]["new_symbols"] = {"min_drawings": 30, "min_clients": 3, "min_days": 1, "max_client_share": 0.4}
    return params


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    prometheus = tool("prometheus", "apt-get install prometheus (make system-deps)")
    tool("pdflatex", "make system-deps installs TeX Live: a taught symbol must compile before it becomes a class")
    root = dvc_project(tmp_path_factory.mktemp("loop"), scenario_params(), None, "symbols-register")  # symbols only
    tmp = tmp_path_factory.mktemp("loop-run")
    ports = {"api": free_port(), "monitor": free_port(), "prometheus": free_port()}
    # the scenario sends hundreds of drawings from one address: the per-client rate limits are off
    env = {
        "FARGA_ROOT": str(root),
        "FARGA_API_KEY": ADMIN_KEY,
        "FARGA_RELOAD_INTERVAL_S": "2",
        "FARGA_COMPONENTS": "symbols",
    }
    env |= {"FARGA_RATE_PREDICT_PER_S": "0", "FARGA_RATE_FEEDBACK_PER_S": "0"}
    procs = Processes(tmp)
    api = f"http://127.0.0.1:{ports['api']}"
    try:
        procs.start("api", "farga", "serve", "--port", str(ports["api"]), "--workers", "2", cwd=root, env=env)
        wait_for("the service", lambda: httpx.get(f"{api}/readyz", timeout=2).status_code == 200)
        procs.start(
            "monitor",
            *("farga", "ops", "monitor", "symbols", "--watch", "--interval", "1", "--port", str(ports["monitor"])),
            cwd=root,
            env=env,
        )
        procs.start(
            "prometheus",
            prometheus,
            f"--config.file={prometheus_config(tmp, ports['api'], ports['monitor'])}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            cwd=tmp,
            env={},
        )
        prom = Prometheus(ports["prometheus"])
        wait_for("Prometheus scraping both targets", lambda: prom.value('sum(up{job=~"farga.*"})') == 2)
        yield {"root": root, "api": api, "prom": prom, "procs": procs, "env": env, "tmp": tmp}
    except BaseException:
        print(procs.tail())
        raise
    finally:
        procs.stop()


def test_traffic_drift_feedback_retrain_and_switch(loop: dict[str, Any]):
    root, api, prom, procs = loop["root"], loop["api"], loop["prom"], loop["procs"]
    try:
        run_scenario(root, api, prom, loop["env"], loop["tmp"])
    except BaseException:
        print(procs.tail())
        raise


def traffic(root: Path) -> tuple[list[tuple[bytes, str]], list[tuple[bytes, str]]]:
    """(normal, shifted) drawings as PNG uploads with their true LaTeX: unseen test drawings; and
    drawings of three classes with much thicker strokes (new drawings: nothing the test set holds)."""
    from farga.symbols import catalogue
    from farga.symbols.archive import read_archive
    from farga.symbols.prepare import load_split

    archive = read_archive(next((root / "data" / "raw" / "symbols").glob("*.tar")), progress=False)
    known = catalogue.by_id()
    rng = np.random.default_rng(0)

    def drawings(split: str) -> list[tuple[np.ndarray, str]]:
        _, _, rows = load_split(root / "data" / "prepared" / "symbols", split)
        return [(archive.images[p], known[int(s)].latex) for p, s in zip(rows.path, rows.symbol_id, strict=True)]

    test = drawings("test")
    normal = [(png(test[i][0]), test[i][1]) for i in rng.choice(len(test), size=WINDOW, replace=False)]
    train = drawings("train")
    three = set(sorted({latex for _, latex in train})[:3])
    few = [r for r in train if r[1] in three]
    shifted = [
        (png(ndimage.grey_erosion(few[i][0], size=(5, 5))), few[i][1])  # black ink on white: erosion thickens
        for i in rng.choice(len(few), size=WINDOW, replace=False)
    ]
    return normal, shifted


def new_symbol_drawings(n: int) -> list[bytes]:
    """Drawings of NEW_SYMBOL as the synthetic writers draw the catalogue's (PNG, black on white)."""
    from farga.symbols.synthetic import distort, render_glyph

    glyph = render_glyph(f"${NEW_SYMBOL}$")
    rng = np.random.default_rng(1)
    return [png(255 - distort(glyph, rng, strength)) for strength in rng.uniform(0.6, 1.4, size=n)]


def farga(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["farga", *args],
        cwd=root,
        env=venv_env(env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def predict(client: httpx.Client, image: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/v1/symbols/predict", files={"image": ("d.png", image, "image/png")}, headers=headers)


def drift_round_after(prom: Prometheus, stamp: float) -> float:
    """Wait for a monitor round whose window was read after ``stamp`` (+1 s for the log's batched writes)."""
    return float(
        wait_for(
            "a fresh drift round",
            lambda: (v := prom.value("max(farga_drift_last_run_timestamp_seconds)")) and v > stamp + 1 and v,
        )
    )


def run_scenario(root: Path, api: str, prom: Prometheus, env: dict[str, str], tmp: Path) -> None:
    started = time.time()
    normal, shifted = traffic(root)
    new_symbols = new_symbol_drawings(TAUGHT + UNSEEN)
    with httpx.Client(base_url=api, timeout=10) as client:
        # 1. normal traffic: judged, and no drift
        normal_answers = [predict(client, image).json() for image, _ in normal]
        drift_round_after(prom, time.time())
        assert prom.value("max(farga_drift_window_size)") == WINDOW
        for kind in ("input", "embedding", "prediction", "confidence"):
            assert prom.value(f'farga_drift_detected{{kind="{kind}"}}') == 0, kind
        calm = {k: prom.value(f'farga_drift_score{{kind="{k}"}}') for k in ("input", "embedding", "confidence")}
        quiet = farga(root, env, "ops", "retrain", "symbols", "--if-alerting", prom.url)  # the alert-driven trigger
        assert "nothing to do" in quiet.stderr

        # 2. shifted traffic: the gauges rise and the drift alert fires in Prometheus
        shifted_ids = []
        for image, _ in shifted:
            response = predict(client, image)
            assert response.status_code == 200
            shifted_ids.append(response.json()["prediction_id"])
        drift_round_after(prom, time.time())
        assert prom.value('farga_drift_detected{kind="embedding"}') == 1
        assert prom.value('farga_drift_detected{kind="input"}') == 1  # the ink density above all
        for kind, before in calm.items():
            after = prom.value(f'farga_drift_score{{kind="{kind}"}}')
            assert after is not None, kind
            assert before is not None, kind
            assert after > before, kind
        firing = wait_for(
            "FargaDriftDetected to fire",
            lambda: [a for a in prom.alert("FargaDriftDetected") if a["state"] == "firing"],
        )
        assert {a["labels"]["component"] for a in firing} == {"symbols"}
        # the same window as a report a person reads (docs/monitoring.md shows its figure)
        report_dir = Path(os.environ.get("FARGA_PANELS_OUT") or tmp / "report")
        farga(root, env, "ops", "monitor", "symbols", "--out", str(report_dir))
        assert json.loads((report_dir / "drift.json").read_text())["kinds"]["embedding"]["drifted"]
        assert "Drift of symbols: DRIFT" in (report_dir / "drift.html").read_text()

        # 3. feedback: the true symbol for every shifted drawing; ten users give wrong labels on normal ones,
        # each a symbol the champion does not rank in its top 5 for that drawing (one it does rank there is
        # a confusion the screening is meant to let through, not a label it contradicts)
        for i, (pid, (_, latex)) in enumerate(zip(shifted_ids, shifted, strict=True)):  # from 30 people
            person = {"X-Forwarded-For": f"198.51.100.{100 + i % 30}"}
            sent = client.post("/v1/symbols/feedback", json={"prediction_id": pid, "latex": latex}, headers=person)
            assert sent.status_code == 200
        labels = sorted({latex for _, latex in normal})
        wrong = {}
        for answer, (_, latex) in list(zip(normal_answers, normal, strict=True))[:10]:
            ranked = {c["latex"] for c in answer["candidates"]}
            turns = (labels[(labels.index(latex) + k) % len(labels)] for k in range(6, 6 + len(labels)))
            pid = answer["prediction_id"]
            wrong[pid] = next(label for label in turns if label not in ranked and label != latex)
            assert (
                client.post("/v1/symbols/feedback", json={"prediction_id": pid, "latex": wrong[pid]}).status_code == 200
            )

        # ... and three people teach it a symbol it does not know (behind a proxy: X-Forwarded-For tells them apart)
        for i, image in enumerate(new_symbols[:TAUGHT]):
            person = {"X-Forwarded-For": f"198.51.100.{i % 3 + 1}"}
            pid = predict(client, image, person).json()["prediction_id"]
            taught = client.post(
                "/v1/symbols/feedback", json={"prediction_id": pid, "latex": NEW_SYMBOL}, headers=person
            )
            assert taught.status_code == 200, taught.text
            assert taught.json()["new_symbol"]
    # a person looks at what they taught, and approves it
    farga(root, env, "ops", "review", "symbols", "--approve", NEW_SYMBOL, "--by", "e2e")

    # 4. retrain while traffic flows; the service switches without a failed request
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def keep_predicting() -> None:
        with httpx.Client(base_url=api, timeout=10) as background:
            i = 0
            while not stop.is_set():
                try:
                    response = predict(background, normal[i % len(normal)][0])
                    version = response.json()["model"]["version"] if response.status_code == 200 else None
                    seen.append((response.status_code, version))
                except httpx.HTTPError as exc:
                    seen.append((0, repr(exc)))
                i += 1

    sender = threading.Thread(target=keep_predicting)
    sender.start()
    try:
        done = farga(root, env, "ops", "retrain", "symbols", "--if-alerting", prom.url)
        assert "FargaDriftDetected firing: retraining" in " ".join(done.stderr.split())
        result = json.loads(done.stdout)  # the result alone on stdout; the pipeline's progress on stderr
        wait_for("the service to serve v2", lambda: any(v == "2" for _, v in seen[-20:]))
        time.sleep(2)  # and keep serving it
    finally:
        stop.set()
        sender.join()

    if os.environ.get("FARGA_PANELS_OUT"):  # the decision docs/monitoring.md quotes
        (Path(os.environ["FARGA_PANELS_OUT"]) / "retrain.json").write_text(json.dumps(result, indent=2) + "\n")
    assert result["retrained"], result
    assert result["promoted"], result
    decision = result["decision"]
    assert decision["version"] == "2"
    assert decision["aliases"]["champion"] == "2"
    assert decision["candidate_scores"]["feedback_top1"] > decision["champion_scores"]["feedback_top1"]
    assert not decision["slice_regressions"]
    failed = [s for s in seen if s[0] != 200]
    assert not failed, f"{len(failed)} of {len(seen)} requests failed during the switch: {failed[:5]}"
    versions = [v for _, v in seen]
    assert "1" in versions
    assert versions[-1] == "2"
    assert versions.index("2") > versions.index("1")

    # the new symbol became a class: described by the model, recognised in drawings it never saw, and
    # reported on its held-out feedback (the champion, not knowing it, scores 0 there); the old
    # classes did not regress (no slice regressions, above)
    prepared_facts = json.loads((root / "data" / "prepared" / "symbols" / "prepare.json").read_text())
    assert prepared_facts["learnt_classes"] == [NEW_SYMBOL]
    learnt = decision["reported_scores"]
    assert learnt["candidate"]["feedback_learnt_top1"] > learnt["champion"]["feedback_learnt_top1"] == 0
    with httpx.Client(base_url=api, timeout=10) as client:
        firsts = [predict(client, image).json()["candidates"][0] for image in new_symbols[TAUGHT:]]
        listed = {s["latex"]: s for s in client.get("/v1/symbols/classes").json()}
    recognised = [c for c in firsts if c["latex"] == NEW_SYMBOL]
    assert len(recognised) >= 0.7 * UNSEEN, [c["latex"] for c in firsts]
    assert all(c["origin"] == "users" and c["package"] is None and c["mode"] == "math" for c in recognised)
    assert listed[NEW_SYMBOL]["origin"] == "users"
    assert {s["origin"] for latex, s in listed.items() if latex != NEW_SYMBOL} == {"catalogue"}

    # wrong labels were quarantined for review, and the training data holds none of them
    assert result["quarantined"] >= 7, result
    from farga.serving.store import FeedbackStore

    store = FeedbackStore(f"sqlite:///{root / 'feedback.db'}")
    quarantined = {p.id for p in store.labelled("symbols", review="quarantined")}
    assert len(quarantined & set(wrong)) >= 7
    accepted = {p.id for p in store.labelled("symbols", review="accepted")}
    assert len(accepted & set(shifted_ids)) >= 0.9 * len(set(shifted_ids))
    # the training set that made v2 is versioned by DVC: the accepted feedback is in dvc.lock and the cache
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    feedback_out = lock["stages"]["symbols-feedback"]["outs"][0]
    assert feedback_out["path"] == "data/feedback/symbols"
    assert feedback_out["nfiles"] == 2  # the drawings, and the symbols they taught (user_symbols.csv)
    prepared = json.loads((root / "data" / "prepared" / "symbols" / "prepare.json").read_text())
    # (a drawing sent twice is one sample)
    assert 0.5 * len(accepted) <= prepared["feedback"]["train"] + prepared["feedback"]["held_out"] <= len(accepted)

    # the dashboards' panels, drawn from what Prometheus recorded during this run (docs/monitoring.md
    # shows them: FARGA_PANELS_OUT=docs/monitoring/panels pytest tests/e2e/test_feedback_loop.py)
    from farga.dev.dashboards import render_panels

    time.sleep(3)  # the last scrapes of the new model
    out = Path(os.environ.get("FARGA_PANELS_OUT") or tmp / "panels")
    drawn = render_panels(prom.url, started - 5, time.time(), out)
    for title in (
        "Requests per second by route",
        "Latency percentiles (API routes)",
        "Top-1 confidence (median and 10th percentile)",
        "User feedback by agreement",
        "Model version served",
        "Drift score by kind (farga ops monitor)",
        "Drift detected",
        "Input feature drift (Wasserstein, reference sd)",
    ):
        assert drawn[title] > 0, f"the panel {title!r} found no data"
    assert drawn["Model version served"] >= 2  # v1, then v2
