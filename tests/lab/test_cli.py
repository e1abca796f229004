"""The SSH admin CLI of the lab, driven by the real client over real SSH."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

import asyncssh
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from activities.clients.cucm import ssh_logins
from activities.clients.cucm.cli import CSR_INCLUDE_OU_RE, CucmCli
from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmCliError,
    CucmHostKeyError,
    CucmResponseLost,
    CucmServiceError,
    CucmServiceTimeout,
    CucmUnreachable,
)
from activities.clients.cucm.transport import BasicAuth
from lab import facts, pki
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST, ServiceTiming
from tests.lab.cli_helpers import LabCli
from tests.lab.conftest import LabHandle, lab_spec

TOMCAT = "Cisco Tomcat"


def cli(lab: LabHandle, host: str = "cucm-pub", **kw: object) -> LabCli:
    return LabCli(lab.endpoint(host), lab.os_admin, **kw)  # type: ignore[arg-type]


def tomcat_states(lab: LabHandle, host: str, since: int = 0) -> list[str]:
    return [
        e.data["status"]
        for e in lab.lab.journal.entries("service.state", node=host, since=since)
        if e.data["service"] == TOMCAT
    ]


async def wait_started(
    lab: LabHandle, host: str, service: str = TOMCAT, timeout: float = 5.0
) -> None:
    """Until the service is Started and its transition (listener updates included) is over."""
    node = lab.lab.cluster.node(host)
    svc = node.services[service]
    async with asyncio.timeout(timeout):
        while not node.started(service) or svc.transitioning:
            await asyncio.sleep(0.01)


class TinyCa:
    """A self-signed root that signs CSRs, for certificate import tests."""

    def __init__(self, name: str = "Lab Test Root CA") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, csr_pem: str, san: list[str] | None = None) -> str:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        names = san if san is not None else pki.san_dns(csr)
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()


# -- session ----------------------------------------------------------------------------


async def test_banner_then_prompt_at_line_start_and_no_exec(lab: LabHandle) -> None:
    async with lab.ssh("cucm-pub") as conn:
        proc = await conn.create_process(term_type="vt100")
        text = ""
        async with asyncio.timeout(5):
            while not text.endswith("admin:"):
                text += await proc.stdout.read(4096)
        lines = text.replace("\r\n", "\n").split("\n")
        assert lines[0] == "Command Line Interface is starting up, please wait ..."
        assert "   Welcome to the Platform Command Line Interface" in lines
        assert lines.index("VMware Installation:") > lines.index(
            "   Welcome to the Platform Command Line Interface"
        )
        assert lines[-1] == "admin:"
        # A terminal echoes what is typed.
        proc.stdin.write("show network cluster\n")
        echoed = ""
        async with asyncio.timeout(5):
            while "\n" not in echoed:
                echoed += await proc.stdout.read(4096)
        assert echoed.startswith("show network cluster\r\n")
        proc.close()

        result = await conn.run("utils service list")
        assert result.exit_status == facts.CLI_EXEC_EXIT_STATUS
        assert facts.CLI_EXEC_NOT_SUPPORTED in str(result.stdout)
        assert "Cisco Tomcat[" not in str(result.stdout)


async def test_host_key_is_checked_against_known_hosts(lab: LabHandle, tmp_path: Path) -> None:
    ep = lab.endpoint("cucm-sub1")
    assert ep.known_hosts
    wrong = tmp_path / "known_hosts"
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    wrong.write_text(f"[{ep.host}]:{ep.ssh_port},[{ep.fqdn}]:{ep.ssh_port} {other_key.strip()}\n")
    with pytest.raises(CucmHostKeyError):
        async with CucmCli(dataclasses.replace(ep, known_hosts=str(wrong)), lab.os_admin):
            pass
    with pytest.raises(CucmHostKeyError):
        async with CucmCli(dataclasses.replace(ep, known_hosts=None), lab.os_admin):
            pass
    async with CucmCli(ep, lab.os_admin) as session:
        assert TOMCAT in await session.service_list()


async def test_wrong_password_and_auth_fault_are_auth_errors(lab: LabHandle) -> None:
    bad = BasicAuth(lab.os_admin.username, "not-the-password")
    with pytest.raises(CucmAuthError):
        async with CucmCli(lab.endpoint("cucm-pub"), bad):
            pass
    # A first login is tried as often as OpenSSH asks for a password, then refused for good.
    ssh_logins.LOGINS.forget()
    await lab.lab.add_fault(
        Fault(kind="ssh-auth-fail", node="cucm-pub", count=ssh_logins.FIRST_TRIES)
    )
    with pytest.raises(CucmAuthError):
        async with cli(lab):
            pass
    assert len(lab.lab.journal.entries("fault.fired", node="cucm-pub")) == ssh_logins.FIRST_TRIES
    async with cli(lab) as session:  # the fault fired its count, then ended
        assert await session.service_list()


async def test_unreachable_node_refuses_and_drops_sessions(lab: LabHandle) -> None:
    async with cli(lab, "cucm-sub2") as session:
        await lab.lab.add_fault(Fault(kind="unreachable", node="cucm-sub2"))
        with pytest.raises(CucmResponseLost):
            await session.service_list()
    with pytest.raises(CucmUnreachable):
        async with cli(lab, "cucm-sub2"):
            pass
    await lab.lab.clear_faults()
    async with cli(lab, "cucm-sub2") as session:
        assert await session.service_list()


async def test_unknown_command_and_whitespace_tolerance(lab: LabHandle) -> None:
    async with cli(lab) as session:
        with pytest.raises(CucmCliError) as err:
            await session.run("utils frobnicate now")
        assert err.value.command == "utils frobnicate now"
        output = await session.run("   utils   service    list  ")
        assert f"{TOMCAT}[STARTED]" in output
        assert output.rstrip().endswith("Command successful")


async def test_client_output_excludes_input_echoed_ahead_of_the_command(lab: LabHandle) -> None:
    async with cli(lab) as session:
        # An Enter the CLI has not read yet (a banner nudge): its echo and prompt come first.
        session._write("\n")
        output = await session.run("utils service list")
        assert output.splitlines()[0] == "Requesting service status, please wait..."
        assert "admin:" not in output
        assert TOMCAT in await session.service_list()


# -- services ---------------------------------------------------------------------------


async def test_service_list_parses_states_and_activation(lab: LabHandle) -> None:
    async with cli(lab) as session:
        output = await session.run("utils service list")
        services = await session.service_list()
    lines = output.strip().splitlines()
    assert lines[:4] == [
        "Requesting service status, please wait...",
        "Service Manager is running",
        "Getting list of all services",
        ">> Return code = 0",
    ]
    assert lines[-2:] == ["Primary Node =true", "Command successful"]
    node = lab.lab.cluster.node("cucm-pub")
    assert set(services) == set(node.services)
    tomcat = services[TOMCAT]
    assert tomcat.status == "STARTED" and tomcat.started and tomcat.detail == ""
    dirsync = services["Cisco DirSync"]
    assert dirsync.status == "STOPPED" and dirsync.detail == "Service Not Activated"


async def test_restart_tomcat_on_publisher_streams_real_transitions(lab: LabHandle) -> None:
    since = lab.lab.journal.last_seq
    progress: list[str] = []
    async with cli(lab) as session:
        line = await session.restart_service(
            TOMCAT, timeout=10, on_progress=progress.append, poll_interval=0.05
        )
    assert line.started
    assert progress[0] == "STOPPING" and progress[-1] == "STARTED"
    assert progress.index("STARTING") > progress.index("STOPPING")
    assert set(progress) == {"STOPPING", "STARTING", "STARTED"}
    assert tomcat_states(lab, "cucm-pub", since) == ["Stopping", "Stopped", "Starting", "Started"]
    controls = lab.lab.journal.entries("service.control", node="cucm-pub", since=since)
    assert [(e.data["action"], e.data["origin"]) for e in controls] == [("restart", "cli")]


async def test_restart_output_has_warning_and_states_in_order(lab: LabHandle) -> None:
    async with cli(lab) as session:
        output = await session.run(f"utils service restart {TOMCAT}")
    lines = output.strip().splitlines()
    assert lines[0].startswith("Do not press Ctrl+C while the service is restarting.")
    assert lines[1] == "Service Manager is running"
    states = [ln for ln in lines[2:] if ln.startswith(TOMCAT)]
    assert states[0] == f"{TOMCAT}[STOPPING]"
    assert states[-1] == f"{TOMCAT}[STARTED]"
    assert f"{TOMCAT}[STARTING]" in states


async def test_subscriber_returns_early_and_client_waits_for_started(tmp_path: Path) -> None:
    timing = FAST.model_copy(
        update={"services": {TOMCAT: ServiceTiming(stopping=0.02, starting=0.6)}}
    )
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        lab = LabHandle(running)
        node = running.cluster.node("cucm-sub1")
        async with cli(lab, "cucm-sub1") as session:
            output = await session.run(f"utils service restart {TOMCAT}")
            assert f"{TOMCAT}[STARTING]" in output
            assert f"{TOMCAT}[STARTED]" not in output
            assert node.services[TOMCAT].status == "Starting"
            await wait_started(lab, "cucm-sub1")

            progress: list[str] = []
            line = await session.restart_service(
                TOMCAT, timeout=10, on_progress=progress.append, poll_interval=0.05
            )
            assert line.started
            assert node.services[TOMCAT].status == "Started"
            assert progress[-1] == "STARTED"
            assert "STARTING" in progress


async def test_service_that_fails_to_start_is_a_service_error(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="service-fail-start", node="cucm-pub", target=TOMCAT))
    async with cli(lab) as session:
        with pytest.raises(CucmServiceError) as err:
            await session.restart_service(TOMCAT, timeout=10, poll_interval=0.05)
        assert not isinstance(err.value, CucmServiceTimeout)
        assert err.value.service == TOMCAT
        services = await session.service_list()
    assert services[TOMCAT].status == "NOTRUNNING"


async def test_failure_on_subscriber_is_found_by_polling(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="service-fail-start", node="cucm-sub1", target=TOMCAT))
    async with cli(lab, "cucm-sub1") as session:
        with pytest.raises(CucmServiceError, match="NOTRUNNING"):
            await session.restart_service(TOMCAT, timeout=10, poll_interval=0.05)


async def test_hung_service_times_out_while_starting_repeats(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="service-hang", node="cucm-pub", target=TOMCAT))
    progress: list[str] = []
    try:
        async with cli(lab) as session:
            with pytest.raises(CucmServiceTimeout):
                await session.restart_service(
                    TOMCAT, timeout=0.6, on_progress=progress.append, poll_interval=0.05
                )
        assert progress.count("STARTING") >= 2
        assert "STARTED" not in progress
    finally:
        await lab.lab.clear_faults()
    await wait_started(lab, "cucm-pub")


async def test_cli_gives_up_after_its_own_wait_and_client_polls(tmp_path: Path) -> None:
    timing = FAST.model_copy(update={"cli_service_wait": 0.3})
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        lab = LabHandle(running)
        await running.add_fault(Fault(kind="service-hang", node="cucm-pub"))
        try:
            async with cli(lab) as session:
                output = await session.run("utils service restart Cisco Tftp", timeout=5)
                assert facts.CLI_SERVICE_WAIT_EXPIRED.format(name="Cisco Tftp") in output
                assert output.count("Cisco Tftp[STARTING]") >= 2
                assert "Cisco Tftp[STARTED]" not in output

                since = running.journal.last_seq
                with pytest.raises(CucmServiceTimeout):
                    await session.restart_service(TOMCAT, timeout=1.5, poll_interval=0.1)
                polls = [
                    e
                    for e in running.journal.entries("cli.command", node="cucm-pub", since=since)
                    if e.data["command"] == "utils service list"
                ]
                assert len(polls) >= 2
        finally:
            await running.clear_faults()
        await wait_started(lab, "cucm-pub")
        await wait_started(lab, "cucm-pub", "Cisco Tftp")


async def test_response_lost_on_restart_applies_it_once(lab: LabHandle) -> None:
    since = lab.lab.journal.last_seq
    await lab.lab.add_fault(
        Fault(kind="response-lost", node="cucm-pub", target="service-restart", count=1)
    )
    async with cli(lab) as session:
        with pytest.raises(CucmResponseLost):
            await session.restart_service(TOMCAT, timeout=10, poll_interval=0.05)
    controls = lab.lab.journal.entries("service.control", node="cucm-pub", since=since)
    assert [e.data["action"] for e in controls] == ["restart"]
    await wait_started(lab, "cucm-pub")
    assert tomcat_states(lab, "cucm-pub", since) == ["Stopping", "Stopped", "Starting", "Started"]


# -- SSO --------------------------------------------------------------------------------


async def test_sso_status_disable_and_enable(lab: LabHandle) -> None:
    assert lab.lab.cluster.sso_enabled
    async with cli(lab) as session:
        assert (await session.sso_status()).state == "enabled"
        assert await session.sso_disable() is True
        assert lab.lab.journal.entries("sso.disabled")
        assert not lab.lab.cluster.sso_enabled
        assert (await session.sso_status()).state == "disabled"
        assert await session.sso_disable() is False
        output = await session.run("utils sso enable")
        assert "GUI" in output
        assert (await session.sso_status()).state == "disabled"
    assert len(lab.lab.journal.entries("sso.disabled")) == 1
    assert not lab.lab.journal.entries("sso.enabled")


async def test_sso_disable_needs_yes(lab: LabHandle) -> None:
    async with cli(lab) as session:
        output = await session.run(
            "utils sso disable", {facts.SSO_DISABLE_PROMPT.split('"')[0]: "no"}
        )
    assert facts.SSO_DISABLE_ABORTED in output
    assert lab.lab.cluster.sso_enabled
    assert not lab.lab.journal.entries("sso.disabled")


async def test_sso_disable_response_lost(lab: LabHandle) -> None:
    await lab.lab.add_fault(
        Fault(kind="response-lost", node="cucm-pub", target="sso-disable", count=1)
    )
    async with cli(lab) as session:
        with pytest.raises(CucmResponseLost):
            await session.sso_disable()
    assert not lab.lab.cluster.sso_enabled
    async with cli(lab) as session:
        assert (await session.sso_status()).state == "disabled"


# -- certificates -----------------------------------------------------------------------


async def test_csr_gen_and_show_csr_match_the_pending_csr(lab: LabHandle) -> None:
    node = lab.lab.cluster.node("cucm-sub1")
    assert "tomcat" not in node.pending
    async with cli(lab, "cucm-sub1") as session:
        assert await session.show_csr("tomcat") is None
        await session.generate_csr("tomcat")
        pem = await session.show_csr("tomcat")
    assert pem is not None
    csr = x509.load_pem_x509_csr(pem.encode())
    pending = node.pending["tomcat"]
    assert pki.public_key_der(csr) == pki.public_key_der(pending.csr)
    assert not pending.multi_server
    assert pki.san_dns(csr) == [node.fqdn]


async def test_csr_gen_success_line_per_build(make_lab) -> None:  # type: ignore[no-untyped-def]
    # 12.5: the CLI reference's example (cucm-interfaces.md §7.2, S5), no OU question.
    async with make_lab(version="12.5.1.16900-48") as old, cli(LabHandle(old)) as session:
        output = await session.run("set csr gen tomcat")
    assert output.strip().splitlines() == ["Successfully Generated CSR for tomcat."]
    # 14SU1 and later ask about the OU first; a public client (S13) expects this exact line.
    async with make_lab() as new, cli(LabHandle(new)) as session:
        output = await session.run("set csr gen tomcat", {CSR_INCLUDE_OU_RE: "no"})
    lines = output.strip().splitlines()
    assert lines[0] == facts.CLI_INCLUDE_OU_PROMPT + "no"
    assert lines[-1] == "Successfully Generated CSR  for tomcat"


async def test_cert_import_activation_and_sso_broken(lab: LabHandle) -> None:
    ca = TinyCa()
    cluster = lab.lab.cluster
    pub = cluster.node("cucm-pub")
    async with cli(lab) as session:
        await session.import_certificate("trust", "tomcat", ca.pem)
        trust = await session.show_cert_list("trust")
        assert any(e.unit == "tomcat-trust" and "Lab_Test_Root_CA" in e.file for e in trust)
        with pytest.raises(CucmCliError):  # duplicate
            await session.import_certificate("trust", "tomcat", ca.pem)

        await session.generate_csr("tomcat")
        signed = ca.sign(await session.show_csr("tomcat"))
        await session.import_certificate("own", "tomcat", signed)
        leaf = x509.load_pem_x509_certificate(signed.encode())
        assert pub.own["tomcat"].cert == leaf
        assert pub.active["tomcat"].cert != leaf
        own = await session.show_cert_list("own")
        assert any(
            e.path == "tomcat/tomcat.pem" and "Lab Test Root CA" in e.description for e in own
        )
        dump = await session.run("show cert own tomcat/tomcat.pem")
        assert f"Serial Number: {pki.serial_hex(leaf)}" in dump
        assert f"[DNSName: {pub.fqdn}]" in dump

        assert (await session.sso_status()).state == "enabled"
        await session.restart_service(TOMCAT, timeout=10, poll_interval=0.05)
        assert pub.active["tomcat"].cert == leaf
        assert (await session.sso_status()).state == "broken"
    # The CA reached the subscribers (tomcat-trust is cluster-wide).
    async with cli(lab, "cucm-sub2") as session:
        trust = await session.show_cert_list("trust")
    assert any("Lab_Test_Root_CA" in e.file for e in trust)


async def test_multi_san_certificate_import_refused_on_14su2_plus(lab: LabHandle) -> None:
    assert lab.lab.spec.version >= "14.0.1.12900"
    ca = TinyCa()
    cluster = lab.lab.cluster
    pub, sub = cluster.node("cucm-pub"), cluster.node("cucm-sub1")
    before = pub.own["tomcat"]
    async with cli(lab) as session:
        await session.import_certificate("trust", "tomcat", ca.pem)
        await session.generate_csr("tomcat")
        signed = ca.sign(await session.show_csr("tomcat"), san=[pub.fqdn, sub.fqdn])
        with pytest.raises(CucmCliError, match="Multi-SAN"):
            await session.import_certificate("own", "tomcat", signed)
    assert pub.own["tomcat"] is before
    assert not lab.lab.journal.entries("identity.uploaded")


# -- CTL, cluster, replication, SQL ------------------------------------------------------


async def test_ctl_update_on_publisher_refused_on_subscriber(lab: LabHandle) -> None:
    async with cli(lab, "cucm-sub1") as session:
        with pytest.raises(CucmCliError):
            await session.ctl_update()
    assert not lab.lab.journal.entries("ctl.updated")
    async with cli(lab) as session:
        before = await session.run("show ctl")
        assert "Length of CTL file: 0" in before
        await session.ctl_update()
        after = await session.run("show ctl")
    assert [e.node for e in lab.lab.journal.entries("ctl.updated")] == ["cucm-pub"]
    assert "The CTL file was verified successfully." in after


async def test_show_network_cluster_lists_nodes_with_roles(lab: LabHandle) -> None:
    async with cli(lab, "cucm-sub1") as session:
        members = await session.show_network_cluster()
    by_host = {m.hostname: m for m in members}
    cluster = lab.lab.cluster
    assert set(by_host) == {n.hostname for n in cluster.nodes}
    for n in cluster.nodes:
        assert by_host[n.hostname].fqdn == n.fqdn
        assert by_host[n.hostname].address == n.address
        assert by_host[n.hostname].authenticated
    pub, imp = by_host["cucm-pub"], by_host["imp-pub"]
    assert (pub.role, pub.node_type, pub.db_role) == ("Publisher", "callmanager", "DBPub")
    assert (imp.role, imp.node_type, imp.db_role) == ("Subscriber", "cups", "DBPub")
    sub = by_host["cucm-sub2"]
    assert (sub.role, sub.node_type, sub.db_role) == ("Subscriber", "callmanager", "DBSub")


async def test_dbreplication_runtimestate_shows_broken_node(lab: LabHandle) -> None:
    async with cli(lab) as session:
        assert await session.dbreplication_states() == {
            "cucm-pub": 2,
            "cucm-sub1": 2,
            "cucm-sub2": 2,
        }
        await lab.lab.add_fault(Fault(kind="dbreplication-broken", node="cucm-sub2"))
        states = await session.dbreplication_states()
    assert states == {"cucm-pub": 2, "cucm-sub1": 2, "cucm-sub2": 4}


async def test_run_sql_cluster_security_mode_and_processnode(lab: LabHandle) -> None:
    query = "select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'"
    async with cli(lab) as session:
        assert await session.run_sql(query) == [
            {"paramname": "ClusterSecurityMode", "paramvalue": "0"}
        ]
        lab.lab.cluster.security_mode = 1
        assert await session.run_sql(query) == [
            {"paramname": "ClusterSecurityMode", "paramvalue": "1"}
        ]
        raw = await session.run(f"run sql {query}")
        rows = await session.run_sql("select name,tkprocessnoderole from processnode")
        with pytest.raises(CucmCliError):
            await session.run_sql("select nosuchcolumn from processnode")
    assert raw.strip().splitlines()[1] == "=================== =========="
    roles = {r["name"]: r["tkprocessnoderole"] for r in rows}
    for n in lab.lab.cluster.nodes:
        assert roles[n.fqdn] == ("1" if n.product == "cucm" else "2")
    assert "EnterpriseWideData" in roles


async def test_cert_regen_replaces_a_ca_signed_certificate_served_after_restart(
    lab: LabHandle,
) -> None:
    ca = TinyCa()
    cluster = lab.lab.cluster
    sub = cluster.node("cucm-sub1")
    async with cli(lab, "cucm-sub1") as session:
        await session.import_certificate("trust", "tomcat", ca.pem)
        await session.generate_csr("tomcat")
        await session.import_certificate("own", "tomcat", ca.sign(await session.show_csr("tomcat")))
        signed = sub.own["tomcat"].cert
        line = await session.regenerate_certificate("tomcat")
        assert line == "Successfully regenerated certificate for tomcat."
        regenerated = sub.own["tomcat"]
        assert regenerated.cert != signed
        assert regenerated.description == "Self-signed certificate generated by system"
        assert regenerated.cert.issuer == regenerated.cert.subject
        with pytest.raises(CucmCliError):
            await session.regenerate_certificate("nonsense")
        await session.restart_service(TOMCAT, timeout=10, poll_interval=0.05)
    assert sub.active["tomcat"] is regenerated
    [event] = lab.lab.journal.entries("identity.regenerated")
    assert (event.node, event.data["purpose"]) == ("cucm-sub1", "tomcat")
