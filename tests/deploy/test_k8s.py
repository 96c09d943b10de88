"""The Kubernetes manifests (deploy/k8s/): each validates against Kubernetes 1.30's schemas
(kubernetes-validate bundles them: no network), they refer to each other by the right
names, and their probes name routes the server has and answers."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from server.api.health import HealthController
from server.settings import FIELDS, Settings, env_var, load_settings
from tests.deploy.contract import DEPLOY

K8S = DEPLOY / "k8s"
VERSION = "1.30"


def _manifests() -> dict[str, dict[str, Any]]:
    """kind -> the one manifest of that kind."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] not in found, f"two {doc['kind']}s"
            found[doc["kind"]] = doc
    return found


def _pod(kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = _manifests()[kind]["spec"]["template"]
    return spec


def test_the_manifests_are_there() -> None:
    assert set(_manifests()) == {
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_each_manifest_validates_against_the_kubernetes_schemas(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        # strict: an unknown field (a typo) is an error too. Raises on any problem,
        # SchemaNotFoundError for a kind or apiVersion that 1.30 does not have.
        assert kubernetes_validate.validate(doc, VERSION, strict=True) == VERSION


def test_the_validator_refuses_a_wrong_manifest() -> None:
    """The check above can fail: a misspelt field and a wrong type are refused."""
    deployment = _manifests()["Deployment"]
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSION, strict=True)
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSION, strict=True)


def _probe_paths() -> dict[str, str]:
    container = _pod("Deployment")["spec"]["containers"][0]
    return {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }


def test_the_probes_name_routes_of_the_server() -> None:
    paths = _probe_paths()
    assert paths == {
        "startupProbe": "/v1/health",
        "livenessProbe": "/v1/health",
        "readinessProbe": "/v1/ready",
    }
    health = HealthController
    routes = {f"{health.path}{path}" for h in (health.health, health.ready) for path in h.paths}
    assert set(paths.values()) <= routes


def test_the_probes_are_answered_by_a_real_server(start_server, db_url: str) -> None:  # type: ignore[no-untyped-def]
    server = start_server(db_url)
    for path in set(_probe_paths().values()):
        with urllib.request.urlopen(server.url + path, timeout=10) as answer:
            assert answer.status == 200, path


def test_the_deployment_runs_two_hardened_replicas() -> None:
    deployment = _manifests()["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = _pod("Deployment")["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]
    port = container["ports"][0]
    assert port["containerPort"] == int(container["args"][container["args"].index("--port") + 1])
    assert {p["httpGet"]["port"] for p in map(container.get, _probe_paths())} == {port["name"]}


def test_the_pieces_refer_to_each_other() -> None:
    found = _manifests()
    labels = _pod("Deployment")["metadata"]["labels"]
    selector = found["Deployment"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert found["Service"]["spec"]["selector"].items() <= labels.items()
    assert found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = {p["name"] for p in _pod("Deployment")["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in found["Service"]["spec"]["ports"]} <= port_names
    target = found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        found["Deployment"]["metadata"]["name"],
    )
    assert (
        found["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
        > (found["PodDisruptionBudget"]["spec"]["minAvailable"])
    )


def test_the_migration_job_runs_admin_migrate_with_the_servers_image_and_settings() -> None:
    job = _pod("Job")["spec"]
    server = _pod("Deployment")["spec"]["containers"][0]
    container = job["containers"][0]
    assert container["args"] == ["admin", "migrate"]
    assert container["image"] == server["image"]
    assert container["envFrom"] == server["envFrom"]
    assert job["securityContext"]["runAsNonRoot"] is True


def test_settings_come_from_the_configmap_and_the_secret() -> None:
    found = _manifests()
    sources = _pod("Deployment")["spec"]["containers"][0]["envFrom"]
    assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} == {
        found["ConfigMap"]["metadata"]["name"]
    }
    assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} == {
        found["Secret"]["metadata"]["name"]
    }
    assert set(found["Secret"]["stringData"]) == {"WAYMARK_DATABASE_URL", "WAYMARK_METRICS_TOKEN"}
    settings = set(found["ConfigMap"]["data"])
    assert settings and all(re.fullmatch(r"WAYMARK_[A-Z_]+", name) for name in settings)
    assert not settings & set(found["Secret"]["stringData"])
    # Each is a setting Waymark knows (an unknown WAYMARK_* variable would be ignored) with
    # a value it accepts, and the defaults the comments promise are the real ones.
    assert settings <= {env_var(name) for name in FIELDS}, settings - {
        env_var(name) for name in FIELDS
    }
    loaded = load_settings(env={**found["ConfigMap"]["data"], **found["Secret"]["stringData"]})
    for name, value in found["ConfigMap"]["data"].items():
        assert loaded.sources[name.removeprefix("WAYMARK_").lower()] == f"env {name}"
        if name not in {"WAYMARK_PUBLIC_URL", "WAYMARK_STALE_DEVICE_DAYS"}:
            field = name.removeprefix("WAYMARK_").lower()
            default = getattr(Settings(), field)
            assert str(default).removesuffix(".0") == value, (name, default)
