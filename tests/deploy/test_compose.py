"""deploy/compose.yaml: PostgreSQL, a one-shot migration, two Waymark instances on one
database and Prometheus with the alerts. Docker cannot run containers on every machine
(not on this one), so the file is checked by its structure, and by ``docker compose
config`` (or the older ``docker-compose config``) where one of them is installed; where
neither is, that check is skipped, under CI too: Docker is not part of CI's machine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.contract import DEPLOY, ROOT

COMPOSE = DEPLOY / "compose.yaml"
INSTANCES = ("waymark-a", "waymark-b")


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def test_the_services_are_there() -> None:
    assert set(_services()) == {"postgres", "migrate", *INSTANCES, "prometheus"}


def test_migrate_runs_admin_migrate_once_postgres_is_healthy() -> None:
    migrate = _services()["migrate"]
    assert migrate["command"] == ["admin", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "healthcheck" in _services()["postgres"]


def test_both_instances_wait_for_the_migration_and_share_the_database() -> None:
    services = _services()
    urls = set()
    for name in INSTANCES:
        instance = services[name]
        assert instance["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert instance["command"][0] == "serve"
        urls.add(instance["environment"]["WAYMARK_DATABASE_URL"])
    assert urls == {services["migrate"]["environment"]["WAYMARK_DATABASE_URL"]}
    assert next(iter(urls)).startswith("postgresql://")
    assert "@postgres:" in next(iter(urls))  # the compose service, by name


def test_the_instances_listen_on_different_host_ports() -> None:
    ports = [_services()[name]["ports"][0].split(":")[0] for name in INSTANCES]
    assert len(set(ports)) == 2


def test_prometheus_loads_the_rules_and_scrapes_both_instances() -> None:
    prometheus = _services()["prometheus"]
    mounts = {
        m.split(":")[1]: (COMPOSE.parent / m.split(":")[0]).resolve() for m in prometheus["volumes"]
    }
    assert mounts["/etc/prometheus/alerts.yml"] == DEPLOY / "prometheus" / "alerts.yml"
    config_file = mounts["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load(config_file.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "waymark"  # WaymarkInstanceDown watches up{job="waymark"}
    targets = {t.split(":")[0] for t in job["static_configs"][0]["targets"]}
    assert targets == set(INSTANCES)


def test_the_image_is_built_from_the_repository_dockerfile() -> None:
    build = _services()["migrate"]["build"]
    assert (COMPOSE.parent / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).is_file()


def _compose_command() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip("neither 'docker compose' nor 'docker-compose' is installed (not required in CI)")


def _config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_compose_command(), "-f", str(path), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_docker_compose_config_accepts_the_file() -> None:
    result = _config(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_config_refuses_a_broken_file(tmp_path: Path) -> None:
    """The check above can fail: a dependency condition compose does not know is refused."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE.read_text().replace("service_completed_successfully", "service_finished", 1)
    )
    assert _config(broken).returncode != 0
