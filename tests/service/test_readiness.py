"""The service's probes: ``/healthz`` (the process answers) and ``/readyz`` (connected to
Temporal, and Temporal answers), as deploy/k8s/service.yaml and deploy/compose.yaml call
them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from temporalio.client import Client

from service.app import create_app
from service.settings import ServiceSettings
from tests.service.conftest import asgi_client
from workers.devserver import free_loopback_port

pytestmark = pytest.mark.e2e


async def test_not_ready_before_the_connection(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    """Sign-in pages work before Temporal answers (the service keeps retrying), so the
    process is alive; actions would fail, so it is not ready."""
    async with asgi_client(create_app(make_settings())) as web:
        alive = await web.get("/healthz")
        ready = await web.get("/readyz")
    assert alive.status_code == 200 and alive.json()["temporal"] is False
    assert ready.status_code == 503 and ready.json() == {"status": "connecting"}


async def test_ready_when_temporal_answers(
    make_settings: Callable[..., ServiceSettings], dev_server_env: Client
) -> None:
    async with asgi_client(create_app(make_settings(), client=dev_server_env)) as web:
        ready = await web.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_not_ready_when_temporal_stops_answering(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    """A client whose frontend went away (nothing listens on its port): not ready, and the
    answer names the kind of failure, not the address."""
    port = free_loopback_port()
    gone = await Client.connect(f"127.0.0.1:{port}", lazy=True)
    async with asgi_client(create_app(make_settings(), client=gone)) as web:
        ready = await web.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "temporal-unreachable"
    assert str(port) not in ready.text and body["error"]
