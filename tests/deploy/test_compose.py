"""deploy/compose.yaml: valid against the Compose Specification (``compose-spec``, the Python
bindings of the ``compose_spec`` Rust crate: strict, offline; there is no docker here for
``docker compose config``), and the single-host deployment issue 15 asks for: Temporal on
PostgreSQL, the UI with ucrenew's codec endpoint, two workers, the service, an OpenTelemetry
collector, Prometheus and Grafana with ucrenew's dashboard; every image pinned, every port on
127.0.0.1. Also prometheus.yml and the Grafana files it mounts."""

from __future__ import annotations

import json
import re
from typing import Any

import compose_spec
import pytest
import yaml

from tests.deploy.files import COMPOSE, DEPLOY, README, UCRENEW_IMAGE, compose_data, compose_json

METRIC = re.compile(r"\b(ucrenew_[a-z0-9_]+?)(?:_bucket|_sum|_count)?\b")


def services() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = compose_data()["services"]
    return data


def readme_metrics() -> dict[str, set[str]]:
    """The metric names and labels agreed in deploy/README.md's "Metrics" table."""
    section = README.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    found = {}
    for name, labels in re.findall(r"^\| `(ucrenew_[a-z_]+)(?:\{([a-z_,]*)\})?`", section, re.M):
        found[name] = set(filter(None, labels.split(",")))
    return found


def test_the_file_is_valid_against_the_compose_specification() -> None:
    """Unknown keys (a typo), wrong types, and references to undefined networks, volumes or
    secrets are all errors."""
    compose = compose_spec.PyCompose.from_json(compose_json())
    compose.validate()
    assert set(compose.service_names()) == set(services())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["services"]["worker-1"].update(healtcheck={}),
        lambda d: d["services"]["service"].update(ports=[{"target": "http"}]),
        lambda d: d["services"]["worker-1"].update(networks=["nowhere"]),
        lambda d: d["services"]["worker-2"].update(secrets=["missing-secret"]),
    ],
    ids=["typo", "port-type", "undefined-network", "undefined-secret"],
)
def test_the_validator_catches_broken_files(mutate: Any) -> None:
    data = compose_data()
    mutate(data)
    with pytest.raises(ValueError):
        compose_spec.PyCompose.from_json(json.dumps(data)).validate()


def test_every_image_is_pinned_by_version() -> None:
    for name, service in services().items():
        image = service["image"]
        _, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"


def test_every_published_port_is_bound_to_loopback() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_the_deployment_has_every_part_the_issue_asks_for() -> None:
    s = services()
    images = {name: svc["image"].rpartition(":")[0] for name, svc in s.items()}
    assert images["postgresql"] == "postgres"
    assert images["temporal"] == "temporalio/server"
    assert s["temporal"]["environment"]["DB"] == "postgres12"
    assert images["temporal-ui"] == "temporalio/ui"
    assert "otel/opentelemetry-collector" in images.values()
    assert images["prometheus"] == "prom/prometheus"
    assert images["grafana"] == "grafana/grafana"
    workers = [n for n, svc in s.items() if svc.get("command") == ["python", "-m", "workers"]]
    assert len(workers) == 2
    assert s["service"]["command"] == ["python", "-m", "service"]
    assert s["ucrenew-admin-init"]["command"] == ["ucrenew", "admin", "init"]
    for worker in workers:
        assert s[worker]["depends_on"]["ucrenew-admin-init"] == {
            "condition": "service_completed_successfully"
        }


def test_ucrenew_containers_run_hardened() -> None:
    """Numeric non-root user, read-only root, no capabilities, no privilege gain."""
    for name, svc in services().items():
        if not UCRENEW_IMAGE.match(svc["image"]):
            continue
        user, _, group = svc["user"].partition(":")
        assert user.isdigit() and int(user) >= 1000 and group.isdigit(), name
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name


def test_the_ui_decodes_through_the_service_codec_endpoint() -> None:
    """The UI's codec endpoint is the service's /codec (service/codec.py serves /decode and
    /encode under it), with credentials; the service allows the UI's origin, and the UI is
    read-only (deploy/README.md: who may signal a renewal)."""
    s = services()
    ui = s["temporal-ui"]["environment"]
    service = s["service"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == service["UCRENEW_SERVICE_BASE_URL"] + "/codec"
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    (ui_port,) = s["temporal-ui"]["ports"]
    host, port, _ = ui_port.split(":")
    assert json.loads(service["UCRENEW_SERVICE_CODEC_CORS_ORIGINS"]) == [f"http://{host}:{port}"]
    from service.codec import router

    paths = {getattr(route, "path", "") for route in router.routes}
    assert {"/codec/decode", "/codec/encode"} <= paths


def test_files_the_compose_file_mounts_exist() -> None:
    for name, svc in services().items():
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
    for secret in compose_data()["secrets"].values():
        assert (DEPLOY / secret["file"]).parent.is_dir()


def test_prometheus_scrapes_the_workers_metrics_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "ucrenew-worker"]
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    s = services()
    workers = [n for n, svc in s.items() if svc.get("command") == ["python", "-m", "workers"]]
    expected = {
        f"{w}:{s[w]['environment']['UCRENEW_METRICS_LISTEN'].rpartition(':')[2]}" for w in workers
    }
    assert targets == expected


def test_the_grafana_dashboard_shows_every_agreed_metric_and_no_other() -> None:
    """The dashboard's ucrenew_* queries use exactly the metrics deploy/README.md names (the
    contract with the code that exports them), with labels from that table."""
    agreed = readme_metrics()
    assert set(agreed) == {
        "ucrenew_renewals_in_flight",
        "ucrenew_phase_duration_seconds",
        "ucrenew_activity_retries_total",
        "ucrenew_ca_wait_seconds",
        "ucrenew_phones_unregistered",
        "ucrenew_cert_days_to_expiry",
    }
    dashboard = json.loads((DEPLOY / "compose/grafana/dashboards/ucrenew.json").read_text())
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in METRIC.findall(target["expr"]):
                used.add(name)
                for label in re.findall(r"by \(([^)]*)\)", target["expr"]):
                    for key in (k.strip() for k in label.split(",")):
                        assert key in agreed[name] | {"le", "__name__"}, (name, key)
    assert used == set(agreed)
    # Every worker reports the same in-flight counts (from visibility): max, never a sum.
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if "ucrenew_renewals_in_flight" in target["expr"]:
                assert "max by (phase, waiting_on) (ucrenew_renewals_in_flight)" in target["expr"]
    provider = yaml.safe_load(
        (DEPLOY / "compose/grafana/provisioning/dashboards/ucrenew.yaml").read_text()
    )
    mounts = services()["grafana"]["volumes"]
    assert any(
        m.endswith(":" + provider["providers"][0]["options"]["path"] + ":ro") for m in mounts
    )


def test_the_compose_file_names_what_it_needs_before_the_first_start() -> None:
    """The Postgres password must be given (interpolation fails otherwise), never a default."""
    text = COMPOSE.read_text()
    assert "${TEMPORAL_POSTGRES_PASSWORD:?" in text
    assert "TEMPORAL_POSTGRES_PASSWORD" in README.read_text()


def test_secret_references_and_paths_point_into_what_the_service_mounts() -> None:
    """``file:`` references name a secret the service is given (/run/secrets/NAME) or a file
    under one of its volumes; the inventory and users file are under a volume; state dirs
    are on volumes (the root filesystem is read-only)."""
    for name, svc in services().items():
        if not UCRENEW_IMAGE.match(svc["image"]):
            continue
        targets = [v.split(":")[1].rstrip("/") + "/" for v in svc.get("volumes", [])]
        secrets = {f"/run/secrets/{s}" for s in svc.get("secrets", [])}
        for var, value in svc.get("environment", {}).items():
            if not var.startswith("UCRENEW_"):
                continue
            if value.startswith("file:"):
                target = value.removeprefix("file:")
                assert target in secrets or any(target.startswith(t) for t in targets), (
                    f"{name}: {var}"
                )
            if var in ("UCRENEW_INVENTORY", "UCRENEW_SERVICE_USERS_FILE", "UCRENEW_STATE_DIR"):
                assert any((value + "/").startswith(t) for t in targets), f"{name}: {var}"
