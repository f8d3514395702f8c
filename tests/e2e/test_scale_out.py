"""Farga moved off one machine's embedded stores, with real processes on 127.0.0.1: an MLflow tracking
server on PostgreSQL (artifacts proxied by the server) holds runs and registry, the DVC pipeline
registers there, services need only its address; two replicas share one PostgreSQL feedback store
behind nginx (deploy/nginx/farga.conf.template), and survive one of them being killed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_support import CROSS, metric
from farga.serving.balancer import TEMPLATE, nginx
from farga.serving.process import ServerProcess
from support import REPO, dvc_project, postgres_database, tiny_params, tool

pytestmark = pytest.mark.e2e

RELOAD_S = 2.0  # the replicas' registry poll (FARGA_RELOAD_INTERVAL_S)
# after its poll, a replica downloads the new model from the tracking server, loads and smoke-tests it:
# a few seconds alone, more beside a busy test suite on two cores
LOAD_ALLOWANCE_S = 25.0


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    mlflow = tool("mlflow", "pip install mlflow (the pipeline extras)")
    root = tmp_path_factory.mktemp("mlflow")
    with postgres_database() as database:
        server = ServerProcess(
            root,
            command=[
                mlflow, "server", "--backend-store-uri", database, "--serve-artifacts",
                "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", "{port}",
                "--workers", "1",
            ],
            ready_path="/health",
            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # its GenAI job workers: eight processes
        )  # fmt: skip
        try:
            server.start(timeout=180)
            yield server.url
        finally:
            server.stop()


@pytest.fixture(scope="module")
def pipeline(tracking_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`dvc repro` on synthetic data with FARGA_TRACKING_URI at the server: both champions registered there."""
    return dvc_project(tmp_path_factory.mktemp("repo"), tiny_params(), env={"FARGA_TRACKING_URI": tracking_server})


def champion(pipeline: Path, component: str) -> str:
    registry = json.loads((pipeline / "reports" / component / "registry.json").read_text())
    assert registry["promoted"]
    return str(registry["aliases"]["champion"])


def served_version(url: str) -> str | None:
    model = httpx.get(f"{url}/readyz", timeout=5).json()["components"]["symbols"]["model"]
    return None if model is None else str(model["version"])


def test_the_pipeline_registers_on_the_server_and_a_service_needs_only_its_address(
    pipeline: Path, tracking_server: str, tmp_path: Path
):
    # nothing embedded: no SQLite registry, no local artifact store in the project
    assert not (pipeline / "mlflow.db").exists()
    assert not (pipeline / "mlartifacts").exists()
    empty = tmp_path / "elsewhere"  # a machine with no checkout, no models, no registry file
    empty.mkdir()
    server = ServerProcess(empty, env={"FARGA_TRACKING_URI": tracking_server})
    try:
        server.start(timeout=180)
        ready = httpx.get(f"{server.url}/readyz", timeout=5).json()
        for component in ("symbols", "fillmask"):
            assert ready["components"][component]["model"]["version"] == champion(pipeline, component)
        answer = httpx.post(f"{server.url}/v1/symbols/predict", json=CROSS, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"]["version"] == champion(pipeline, "symbols")
    finally:
        server.stop()
    assert list(empty.glob("models/serving/**/model.onnx")), "the champion was downloaded through the server"


@pytest.fixture
def replicas(pipeline: Path, tracking_server: str, tmp_path: Path) -> Iterator[tuple[list[ServerProcess], str]]:
    """Two replicas (one PostgreSQL feedback store, one registry) behind nginx; yields them and nginx's URL."""
    tool("nginx", "make system-deps (Debian's nginx)")
    with postgres_database() as store:
        env = {
            "FARGA_TRACKING_URI": tracking_server,
            "FARGA_DATABASE_URL": store,
            "FARGA_RELOAD_INTERVAL_S": str(RELOAD_S),
            "FARGA_COMPONENTS": "symbols",
        }
        servers = []
        for i in range(2):
            (tmp_path / f"replica{i}").mkdir()
            servers.append(ServerProcess(tmp_path / f"replica{i}", env=env))
        balancer = nginx(REPO / TEMPLATE, tmp_path / "nginx", [f"127.0.0.1:{s.port}" for s in servers])
        try:
            for server in servers:  # one after the other: the first migrates the store's schema
                server.start(timeout=180)
            balancer.start(timeout=30)
            yield servers, balancer.url
        finally:
            for process in (balancer, *servers):
                process.stop()


def test_a_replica_killed_under_load_fails_no_client_request(replicas: tuple[list[ServerProcess], str]):
    servers, url = replicas
    outcomes: list[tuple[float, int | str]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=10) as http:
            while not stop.is_set():
                try:
                    status: int | str = http.post("/v1/symbols/predict", json=CROSS).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                outcomes.append((time.monotonic(), status))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    time.sleep(3)
    served = [metric(httpx.get(f"{s.url}/metrics").text, "farga_predictions_total") for s in servers]
    killed_at = time.monotonic()
    servers[0].kill()  # SIGKILL to the whole replica: no drain, no goodbye
    time.sleep(4)
    stop.set()
    for thread in clients:
        thread.join(timeout=30)
    assert all(n > 0 for n in served), f"nginx did not spread the load: {served}"
    failed = [o for o in outcomes if o[1] != 200]
    after = [o for o in outcomes if o[0] > killed_at]
    assert not failed, f"{len(failed)} of {len(outcomes)} requests failed: {failed[:5]}"
    assert len(after) > 20, f"only {len(after)} requests after the kill"


def test_feedback_is_taken_by_a_replica_that_did_not_predict(replicas: tuple[list[ServerProcess], str]):
    a, b = replicas[0]
    predicted = httpx.post(f"{a.url}/v1/symbols/predict", json=CROSS, timeout=10).json()
    label = predicted["candidates"][1]["latex"]
    answer = httpx.post(
        f"{b.url}/v1/symbols/feedback", json={"prediction_id": predicted["prediction_id"], "latex": label}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] is True


def test_a_promotion_reaches_every_replica_within_the_reload_interval(
    replicas: tuple[list[ServerProcess], str], pipeline: Path, tracking_server: str
):
    import mlflow
    from mlflow import MlflowClient

    servers, url = replicas
    before = champion(pipeline, "symbols")
    assert [served_version(s.url) for s in servers] == [before, before]
    mlflow.set_tracking_uri(tracking_server)
    mlflow.set_registry_uri(tracking_server)  # not the registry an earlier test in this process set
    client = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    source = client.get_model_version("symbols", before)
    new = mlflow.register_model(source.source, "symbols").version  # the same model, a new version
    promoted_at = time.monotonic()
    client.set_registered_model_alias("symbols", "champion", str(new))
    switched: dict[str, float] = {}
    while len(switched) < len(servers) and time.monotonic() - promoted_at < 90:
        for server in servers:
            if server.url not in switched and served_version(server.url) == str(new):
                switched[server.url] = time.monotonic() - promoted_at
        time.sleep(0.1)
    assert len(switched) == len(servers), f"served after 90 s: {[served_version(s.url) for s in servers]}"
    # each replica notices at its next poll (within RELOAD_S), then fetches and loads the model
    assert max(switched.values()) < RELOAD_S + LOAD_ALLOWANCE_S, switched
    answer = httpx.post(f"{url}/v1/symbols/predict", json=CROSS, timeout=10).json()
    assert answer["model"]["version"] == str(new)
