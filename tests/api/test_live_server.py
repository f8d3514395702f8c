"""The same API against a real uvicorn process on 127.0.0.1: several workers, a model swap under load."""

from __future__ import annotations

import http.client
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from api_support import ADMIN_KEY, CROSS, drawing, metric, png
from farga.config import Settings
from farga.serving.process import ServerProcess, running_server
from farga.serving_benchmark import connections_per_worker

pytestmark = pytest.mark.api


def use_registry_of(root: Path):
    """Point this process's MLflow tracking *and* registry at the served project's store."""
    import mlflow
    from mlflow import MlflowClient

    uri = Settings(root=root).resolved_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_two_workers_serve_log_and_count_together(served: Path):
    with running_server(served, workers=2, env={"FARGA_API_KEY": ADMIN_KEY}) as url, httpx.Client(base_url=url) as http:
        ids = []
        for _ in range(20):
            response = http.post("/v1/symbols/predict", json=CROSS)
            assert response.status_code == 200
            ids.append(response.json()["prediction_id"])
        up = http.post("/v1/symbols/predict", files={"image": ("d.png", png(drawing()), "image/png")})
        assert up.status_code == 200
        assert http.post("/v1/symbols/predict", json={"strokes": []}).status_code == 422
        fb = http.post("/v1/symbols/feedback", json={"prediction_id": ids[0], "latex": r"\alpha"})
        assert fb.status_code == 200
        text = http.get("/metrics").text
    # requests spread over two processes; /metrics must aggregate them
    assert metric(text, "farga_http_request_duration_seconds_count", route="/v1/symbols/predict", status="200") == 21
    assert metric(text, "farga_http_request_duration_seconds_count", route="/v1/symbols/predict", status="422") == 1
    assert metric(text, "farga_predictions_total") == 21
    assert metric(text, "farga_feedback_total") == 1
    assert re.search(r'farga_model_info\{component="symbols",.*version="1"', text)


def test_two_workers_even_out_a_clients_keep_alive_connections(served: Path):
    """The kernel places connections by a hash (16 land 8:8 one time in five); each worker then lets
    go of what it holds over its share, with Connection: close, and the client's reconnections settle."""
    server = ServerProcess(served, workers=2).start()
    try:
        connections = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=10) for _ in range(16)]
        for _ in range(50):  # rounds of one request per connection, until a round moves none
            moved = 0
            for i, connection in enumerate(connections):
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                assert response.status == 200
                assert response.read()  # the request that moves it is answered in full
                if response.getheader("connection") == "close":
                    connection.close()
                    connections[i] = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                    moved += 1
            if not moved:
                break
        assert sorted(connections_per_worker(server.port, server.worker_pids())) == [8, 8]
        for connection in connections:
            connection.close()
    finally:
        server.stop()


def test_the_champion_is_swapped_under_load_without_a_failed_request(served: Path):
    """Promote a new champion while requests flow; the admin reload swaps it; nothing fails."""
    import mlflow

    with running_server(served, workers=2, env={"FARGA_API_KEY": ADMIN_KEY}) as url:
        failures, versions, stop = [], set(), threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=url, timeout=10) as http:
                while not stop.is_set():
                    response = http.post("/v1/symbols/predict", json=CROSS)
                    if response.status_code != 200:
                        failures.append(response.status_code)
                    else:
                        versions.add(response.json()["model"]["version"])

        workers = [threading.Thread(target=traffic) for _ in range(3)]
        for w in workers:
            w.start()
        client = use_registry_of(served)
        source = client.get_model_version("symbols", "1").source
        new = mlflow.register_model(source, "symbols").version
        client.set_registered_model_alias("symbols", "champion", new)
        reload = httpx.post(f"{url}/v1/admin/reload/symbols", headers={"x-api-key": ADMIN_KEY}, timeout=60)
        deadline = time.monotonic() + 15  # the other worker follows the admin reload within a second or two
        while True:
            after = {httpx.post(f"{url}/v1/symbols/predict", json=CROSS).json()["model"]["version"] for _ in range(12)}
            if after == {str(new)} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join()
    assert reload.status_code == 200, reload.text
    assert reload.json()["changed"] is True, reload.json()
    assert reload.json()["previous"] == "1"
    assert after == {str(new)}  # every worker serves the new champion
    assert failures == []
    assert "1" in versions


def test_a_broken_champion_is_not_served(served: Path):
    import mlflow

    client = use_registry_of(served)
    with running_server(served, env={"FARGA_API_KEY": ADMIN_KEY}) as url:
        broken = served / "broken"
        broken.mkdir()
        (broken / "model.onnx").write_bytes(b"not an onnx model")
        with mlflow.start_run():
            mlflow.log_artifact(str(broken / "model.onnx"), artifact_path="model")
            uri = mlflow.get_artifact_uri("model")
        version = mlflow.register_model(uri, "symbols").version
        client.set_registered_model_alias("symbols", "champion", version)
        response = httpx.post(f"{url}/v1/admin/reload/symbols", headers={"x-api-key": ADMIN_KEY}, timeout=60)
        assert response.status_code == 200
        assert "error" in response.json()
        assert response.json()["version"] == "1"
        served_version = httpx.post(f"{url}/v1/symbols/predict", json=CROSS).json()["model"]["version"]
        text = httpx.get(f"{url}/metrics").text
    assert served_version == "1"
    assert metric(text, "farga_model_reloads_total", outcome="error") == 1
