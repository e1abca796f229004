"""The action API against the real Temporal dev server, the lab and a worker: a renewal
started by a signed-in requester, and every refusal of the approval rules and of the
inventory's ``actions:`` map, then ``ucrenew login`` + ``ucrenew approve`` through a service
on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from activities.clients.ca.local import LocalCa
from service.app import create_app
from service.settings import ServiceSettings
from tests.e2e.conftest import FAST_OPTIONS, Stack
from tests.e2e.conftest import lab_dir as lab_dir  # the stack's fixtures, shared
from tests.e2e.conftest import stack as stack
from tests.service.conftest import USERS, asgi_client
from workers.devserver import free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows.models import RenewalStatus
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

UCRENEW = str(Path(sys.executable).parent / "ucrenew")

POLICY = {
    "approvals": {
        "plan": {
            "approver_groups": ["change-board"],
            "required": 2,
            "justification_required": True,
        }
    },
    "actions": {"cancel": ["change-board"], "submit-cert": ["pki-admins"]},
}


@dataclass
class Service:
    """The service in front of the stack, and the settings its worker shares."""

    app: Any
    settings: ServiceSettings
    stack: Stack

    async def token(self, name: str) -> str:
        async with asgi_client(self.app) as client:
            r = await client.post(
                "/api/v1/tokens", json={"username": name, "password": USERS[name][0]}
            )
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    async def as_(self, name: str) -> httpx.AsyncClient:
        client = asgi_client(self.app)
        client.headers["Authorization"] = f"Bearer {await self.token(name)}"
        return client


@pytest_asyncio.fixture(loop_scope="session")
async def service(
    stack: Stack, make_settings: Callable[..., ServiceSettings], tmp_path: Path
) -> AsyncIterator[Service]:
    inventory = yaml.safe_load(stack.settings.inventory_path.read_text())
    for cluster in inventory["clusters"]:
        cluster["change_policy"] = POLICY
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump(inventory))
    core = UcrenewSettings(
        state_dir=stack.settings.state_dir, inventory=path, task_queue=stack.task_queue
    )
    # Relative secret references of the lab's inventory stay next to the lab's files.
    for name in os.listdir(stack.settings.inventory_path.parent):
        target = tmp_path / name
        if not target.exists():
            target.symlink_to(stack.settings.inventory_path.parent / name)
    settings = make_settings(ucrenew=core)
    async with build_worker(stack.client, core, stack.task_queue):
        yield Service(create_app(settings, client=stack.client), settings, stack)


async def _wait(client: httpx.AsyncClient, change: str, awaiting: str) -> dict[str, Any]:
    for _ in range(600):
        r = await client.get(f"/api/v1/renewals/{change}")
        if r.status_code == 200:
            view = r.json()
            if view["status"]["awaiting"] == awaiting:
                return dict(view)
            assert view["status"]["phase"] not in ("done", "failed", "cancelled"), view
        await asyncio.sleep(0.1)
    raise AssertionError(f"{change} never awaited {awaiting}")


async def _start(service: Service, change: str) -> None:
    async with await service.as_("requester") as rita:
        r = await rita.post(
            "/api/v1/renewals",
            json={
                "change_id": change,
                "cluster": service.stack.lab.cluster_entry.name,
                "ca": "manual",
                "require_plan_approval": True,
                "options": FAST_OPTIONS.model_dump(mode="json", exclude_unset=True),
                # A forged requester in the body is not a field: the sign-in decides.
                "requested_by": "approver1",
            },
        )
    assert r.status_code == 201, r.text
    assert r.json()["requested_by"] == "requester"


async def _terminate(service: Service, change: str) -> None:
    with contextlib.suppress(Exception):
        await service.stack.client.get_workflow_handle(change).terminate("test over")


async def test_every_approval_refusal_through_the_api(service: Service) -> None:
    change = f"CHG-API-{uuid.uuid4().hex[:8]}"
    try:
        await _start(service, change)
        async with (
            await service.as_("requester") as rita,
            await service.as_("approver1") as alex,
            await service.as_("approver2") as blair,
            await service.as_("outsider") as hal,
        ):
            view = await _wait(alex, change, "approval")
            plan_hash = view["status"]["plan"]["plan_hash"]
            assert view["status"]["requested_by"] == "requester"
            assert view["allowed_actions"] == ["approve", "reject", "cancel"]
            assert (await rita.get(f"/api/v1/renewals/{change}")).json()["allowed_actions"] == [
                "reject"
            ]
            assert (await hal.get(f"/api/v1/renewals/{change}")).json()["allowed_actions"] == []

            async def approve(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
                return await client.post(f"/api/v1/renewals/{change}/approve", json=body)

            def refused(r: httpx.Response) -> tuple[int, str]:
                return r.status_code, r.json()["error"]["code"]

            # The principal in a body is ignored: the outsider stays the outsider.
            r = await approve(hal, plan_hash=plan_hash, comment="ok", principal="approver2")
            assert refused(r) == (403, "not-an-approver")
            assert "change-board" in r.json()["error"]["message"]
            assert refused(await approve(rita, plan_hash=plan_hash, comment="mine")) == (
                403,
                "self-approval",
            )
            assert refused(await approve(alex, comment="no hash")) == (422, "invalid-request")
            assert refused(await approve(alex, plan_hash="0123456789ab", comment="old")) == (
                409,
                "plan-changed",
            )
            assert refused(await approve(alex, plan_hash=plan_hash)) == (
                422,
                "justification-required",
            )
            ok = await approve(alex, plan_hash=plan_hash, comment="CAB-7 reviewed")
            assert ok.status_code == 200, ok.text
            assert ok.json()["by"] == "approver1"
            assert refused(await approve(alex, plan_hash=plan_hash, comment="again")) == (
                409,
                "duplicate-approver",
            )
            # actions: cancel is reserved to change-board.
            r = await hal.post(f"/api/v1/renewals/{change}/cancel", json={"reason": "mine now"})
            assert refused(r) == (403, "not-permitted")
            r = await rita.post(f"/api/v1/renewals/{change}/cancel", json={"reason": "oops"})
            assert refused(r) == (403, "not-permitted")
            # The outsider may not reject either (neither approver nor requester).
            r = await hal.post(f"/api/v1/renewals/{change}/reject", json={"comment": "no"})
            assert refused(r) == (403, "not-an-approver")
            # The signal form for integrations: authenticated the same way, bound the same way.
            r = await blair.post(
                f"/api/v1/renewals/{change}/approve?wait=false",
                json={"plan_hash": plan_hash, "comment": "CAB-7 second"},
            )
            assert r.status_code == 200 and r.json()["action"] == "approve-signal"
            view = await _wait(alex, change, "ca")
            approvals = [(e["actor"], e["comment"]) for e in view["status"]["approvals"]]
            assert approvals == [
                ("approver1", "CAB-7 reviewed"),
                ("approver2", "CAB-7 second (signal)"),
            ]
            assert view["allowed_actions"] == ["cancel"]  # submit-cert: pki-admins only
            r = await alex.post(
                f"/api/v1/renewals/{change}/submit-cert", json={"certificate_pem": "x"}
            )
            assert refused(r) == (403, "not-permitted")
            r = await alex.post(f"/api/v1/renewals/{change}/decide", json={"decision": "maybe"})
            assert refused(r) == (422, "bad-decision")
            r = await alex.post(f"/api/v1/renewals/{change}/decide", json={"decision": "abort"})
            assert refused(r) == (409, "no-decision-pending")
            r = await alex.post(f"/api/v1/renewals/{change}/cancel", json={"reason": "test over"})
            assert r.status_code == 200
            missing = await alex.post(
                "/api/v1/renewals/CHG-NO-SUCH/approve", json={"plan_hash": plan_hash}
            )
            assert refused(missing) == (404, "not-found")
    finally:
        await _terminate(service, change)


@contextlib.asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[str]:
    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _cli(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        UCRENEW,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_login_and_approve_through_the_service(service: Service, tmp_path: Path) -> None:
    change = f"CHG-CLI-API-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCRENEW_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), COLUMNS="200")
    try:
        await _start(service, change)
        async with _serving(service.app) as url:
            code, out, err = await _cli(
                env,
                "login",
                "--server",
                url,
                "--user",
                "approver1",
                "--password-stdin",
                stdin=USERS["approver1"][0] + "\n",
            )
            assert code == 0, err
            assert "signed in" in out and "approver1" in out
            credentials = tmp_path / "config" / "ucrenew" / "credentials.json"
            assert credentials.stat().st_mode & 0o777 == 0o600
            assert USERS["approver1"][0] not in credentials.read_text()

            async with await service.as_("approver1") as alex:
                plan_hash = (await _wait(alex, change, "approval"))["status"]["plan"]["plan_hash"]
            code, _, err = await _cli(env, "approve", change, "--by", "approver2", "-m", "x")
            assert code == 2 and "--by" in err
            # Declined at the prompt: nothing is approved.
            code, out, err = await _cli(env, "approve", change, "-m", "CAB-9", stdin="n\n")
            assert code == 1 and plan_hash in out and "not approved" in err
            code, out, err = await _cli(env, "approve", change, "-m", "CAB-9", stdin="y\n")
            assert code == 0, err
            assert plan_hash in out and f"approved {change}" in out
            status = await service.stack.client.get_workflow_handle_for(
                CertRenewalWorkflow.run, change
            ).query(CertRenewalWorkflow.get_status)
            assert [(e.actor, e.comment) for e in status.approvals] == [("approver1", "CAB-9")]
            code, _, err = await _cli(env, "cancel", change, "--reason", "x")
            assert code == 0, err  # approver1 is in change-board
            code, _, err = await _cli(env, "logout")
            assert code == 0 and not credentials.exists()
            # `start` through the service: the requester is who the token names.
            second = f"{change}-B"
            starter = {
                **env,
                "UCRENEW_SERVER": url,
                "UCRENEW_TOKEN": await service.token("requester"),
            }
            cluster = service.stack.lab.cluster_entry.name
            code, _, err = await _cli(starter, "start", cluster, "--change", second, "--by", "x")
            assert code == 2 and "--by" in err
            try:
                code, out, err = await _cli(
                    starter,
                    "start",
                    cluster,
                    "--change",
                    second,
                    "--ca",
                    "manual",
                    "--require-approval",
                    "--wait",
                    "0",
                )
                assert code == 0, err
                assert f"/renewals/{second}" in out  # the renewal page link
                started = await service.stack.client.get_workflow_handle_for(
                    CertRenewalWorkflow.run, second
                ).query(CertRenewalWorkflow.get_status)
                assert started.requested_by == "requester"
            finally:
                await _terminate(service, second)
        # The service is gone: a clear "unreachable".
        env.update(UCRENEW_SERVER=url, UCRENEW_TOKEN="ucrenew1.x.y")
        code, _, err = await _cli(env, "approve", change, "--plan-hash", plan_hash)
        assert code == 5 and "cannot reach the ucrenew service" in err
        assert "Traceback" not in err
    finally:
        await _terminate(service, change)


async def test_a_manual_renewal_runs_to_done_through_the_api(
    service: Service, tmp_path: Path
) -> None:
    """Every step a person takes goes through the API as that person: two approvals, a wrong
    certificate refused with its reason (the change keeps waiting), the right one accepted,
    an SSO confirmation refused while SSO is still off, then accepted."""
    change = f"CHG-API-DONE-{uuid.uuid4().hex[:8]}"
    enterprise = LocalCa(tmp_path / "enterprise-ca", name="enterprise")
    try:
        await _start(service, change)
        async with (
            await service.as_("approver1") as alex,
            await service.as_("approver2") as blair,
            await service.as_("pki-admin") as pia,
            await service.as_("requester") as rita,
        ):
            plan_hash = (await _wait(alex, change, "approval"))["status"]["plan"]["plan_hash"]
            for client in (alex, blair):
                r = await client.post(
                    f"/api/v1/renewals/{change}/approve",
                    json={"plan_hash": plan_hash, "comment": "CAB-9 reviewed"},
                )
                assert r.status_code == 200, r.text
            view = await _wait(pia, change, "ca")
            assert "submit-cert" in view["allowed_actions"]
            csr_pem = view["status"]["csr_pem"]

            # Signed by the CA, but for another key: refused with the reason, still waiting.
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            names = x509.load_pem_x509_csr(csr_pem.encode()).extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            )
            other = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")]))
                .add_extension(names.value, critical=False)
                .sign(key, hashes.SHA256())
            )
            wrong, chain = enterprise.sign(other.public_bytes(serialization.Encoding.PEM).decode())
            r = await pia.post(
                f"/api/v1/renewals/{change}/submit-cert",
                json={"certificate_pem": wrong, "chain_pem": chain},
            )
            assert r.status_code in (409, 422), r.text
            assert "does not match the CSR" in r.json()["error"]["message"]
            assert (await _wait(pia, change, "ca"))["status"]["awaiting"] == "ca"

            good, chain = enterprise.sign(csr_pem)
            r = await pia.post(
                f"/api/v1/renewals/{change}/submit-cert",
                json={"certificate_pem": good, "chain_pem": chain, "comment": "REQ-77"},
            )
            assert r.status_code == 200, r.text

            await _wait(rita, change, "sso-confirm")
            r = await rita.post(f"/api/v1/renewals/{change}/confirm-sso", json={})
            assert r.status_code == 409, r.text
            assert "still disabled" in r.json()["error"]["message"]
            service.stack.lab.lab.cluster.sso_enable(origin="e2e operator")
            r = await rita.post(
                f"/api/v1/renewals/{change}/confirm-sso", json={"comment": "GUI re-enabled"}
            )
            assert r.status_code == 200, r.text

        final = await service.stack.client.get_workflow_handle(
            change, result_type=RenewalStatus
        ).result()
        assert final.phase == "done"
        actors = [(e.actor, e.action) for e in final.audit if e.actor != "ucrenew"]
        assert ("pki-admin", "certificate-refused") in actors
        assert ("pki-admin", "certificate-submitted") in actors
        assert ("requester", "sso-reenabled") in actors
    finally:
        await _terminate(service, change)
