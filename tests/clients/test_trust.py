"""What the clients trust, and how they say that a node's certificate or key is not trusted.

Against the lab: real TLS and SSH on loopback, each node serving its own certificate.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import asyncssh
import pytest
import yaml

from activities.catalog import TOMCAT
from activities.clients.cucm.certmgr import CertMgrClient
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.controlcenter import ControlCenterClient
from activities.clients.cucm.errors import (
    CucmCertificateUntrusted,
    CucmHostKeyError,
    CucmTrustConfigError,
)
from activities.clients.cucm.platform_admin import PlatformAdminClient
from activities.clients.cucm.tls import probe_tls
from activities.clients.cucm.transport import NodeEndpoint
from activities.clients.inventory import load_inventory
from activities.clients.trust_store import TrustFile, TrustStore
from tests.lab.conftest import LabHandle
from tests.lab.test_cli import TinyCa


async def service_status(ep: NodeEndpoint, lab: LabHandle) -> None:
    async with ControlCenterClient(ep, lab.app_user) as cc:
        await cc.get_service_status([TOMCAT])


async def test_an_untrusted_certificate_names_the_node_and_every_trusted_file(
    lab: LabHandle, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(TinyCa("Some Other CA").pem)
    store = TrustStore(tmp_path / "trust")
    store.record("lab", "tomcat", [TinyCa("ucrenew Test Root").pem])
    extra = TinyCa("New Chain Root")
    ep = dataclasses.replace(
        lab.endpoint("cucm-sub1"),
        ca_file=str(wrong),
        trust_files=store.files("lab"),
        extra_ca_pem=(extra.pem,),
    )
    with pytest.raises(CucmCertificateUntrusted) as err:
        await service_status(ep, lab)
    assert str(err.value) == (
        f"cucm-sub1.lab.example.com:{ep.https_port}: certificate verify failed: self-signed "
        f"certificate — ucrenew trusts {wrong} (tls.ca_file of cluster lab in the inventory), "
        f"{store.path('lab')} (CA certificates ucrenew installed on cluster lab) and the CA "
        "certificates of the chain being installed (CN=New Chain Root); add the CA that issued "
        "the node's certificate (for a self-signed certificate, the certificate itself) to "
        f"{wrong}, the inventory's tls.ca_file of cluster lab"
    )
    assert err.value.node == "cucm-sub1.lab.example.com" and err.value.port == ep.https_port
    assert err.value.verify_code == 18 and not err.value.retryable
    # certmgr REST on the other port says the same about its own port.
    with pytest.raises(CucmCertificateUntrusted) as rest:
        async with CertMgrClient(ep, lab.os_admin) as certmgr:
            await certmgr.get_identity("tomcat")
    assert str(rest.value).startswith(f"cucm-sub1.lab.example.com:{ep.rest_port}: certificate")


async def test_without_a_ca_file_the_advice_is_to_set_one(lab: LabHandle) -> None:
    ep = dataclasses.replace(lab.endpoint("cucm-pub"), ca_file=None)
    with pytest.raises(CucmCertificateUntrusted) as err:
        await service_status(ep, lab)
    assert "ucrenew trusts the system's CA certificates; set tls.ca_file of cluster lab in " in (
        str(err.value)
    )


async def test_a_missing_or_empty_ca_file_is_a_configuration_error(
    lab: LabHandle, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.pem"
    ep = dataclasses.replace(lab.endpoint("cucm-pub"), ca_file=str(missing))
    with pytest.raises(CucmTrustConfigError) as err:
        await service_status(ep, lab)
    assert str(err.value) == (
        f"cucm-pub.lab.example.com: cannot verify its certificate: {missing} (tls.ca_file of "
        "cluster lab in the inventory) does not exist"
    )
    empty = tmp_path / "empty.pem"
    empty.write_text("no certificate here\n")
    with pytest.raises(CucmTrustConfigError) as err:
        await probe_tls(dataclasses.replace(ep, ca_file=str(empty)), ep.https_port)
    assert f"{empty} (tls.ca_file of cluster lab in the inventory) is not a PEM file" in str(
        err.value
    )


async def test_a_hostname_mismatch_points_at_the_inventory_names(lab: LabHandle) -> None:
    sub1 = lab.endpoint("cucm-sub1")
    # sub1's address under sub2's name: the served certificate chains, the name does not.
    ep = dataclasses.replace(sub1, fqdn="cucm-sub2.lab.example.com")
    with pytest.raises(CucmCertificateUntrusted) as err:
        await service_status(ep, lab)
    assert err.value.verify_code == 62
    assert str(err.value).endswith(
        "— the certificate it serves does not name cucm-sub2.lab.example.com: check the "
        f"node's fqdn (and address {sub1.host}) in the inventory"
    )
    probe = await probe_tls(ep, ep.https_port)
    assert (probe.chain_verified, probe.hostname_matched, probe.verify_code) == (True, False, 62)


async def test_the_trust_store_keeps_a_renewed_node_reachable(
    lab: LabHandle, tmp_path: Path
) -> None:
    """The node serves a certificate of a CA the inventory does not know; the store does."""
    ca = TinyCa("Corp Root CA")
    async with CertMgrClient(lab.endpoint("cucm-pub"), lab.os_admin) as pub:
        csr = await pub.generate_csr("tomcat", multi_server=True)
        await pub.upload_trust(["tomcat"], [ca.pem], "Corp root")
    # 14SU3 takes multi-server certificates in OS Administration only.
    async with PlatformAdminClient(lab.endpoint("cucm-pub"), lab.os_admin) as web:
        await web.upload_identity("tomcat", ca.sign(csr.csr_pem))
    node = lab.lab.cluster.node("cucm-sub1")
    svc = lab.lab.cluster.control(node, TOMCAT, "restart", "operator")
    assert svc.task is not None
    await svc.task

    plain = lab.endpoint("cucm-sub1")
    with pytest.raises(CucmCertificateUntrusted) as err:
        await service_status(plain, lab)
    assert err.value.verify_message == "unable to get local issuer certificate"
    store = TrustStore(tmp_path / "trust")
    store.record("lab", "tomcat", [ca.pem])
    trusting = dataclasses.replace(plain, trust_files=store.files("lab"))
    await service_status(trusting, lab)
    probe = await probe_tls(trusting, trusting.https_port)
    assert probe.verified and probe.issuer_cn == "Corp Root CA"
    # The other nodes still serve their self-signed certificates: the inventory file holds.
    await service_status(dataclasses.replace(lab.endpoint("cucm-sub2"), trust_files=()), lab)


async def test_a_changed_host_key_names_the_known_hosts_file(
    lab: LabHandle, tmp_path: Path
) -> None:
    ep = lab.endpoint("cucm-sub1")
    wrong = tmp_path / "known_hosts"
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    wrong.write_text(f"[{ep.host}]:{ep.ssh_port},[{ep.fqdn}]:{ep.ssh_port} {other}\n")
    with pytest.raises(CucmHostKeyError) as err:
        async with CucmCli(dataclasses.replace(ep, known_hosts=str(wrong)), lab.os_admin):
            pass
    message = str(err.value)
    assert message.startswith(
        f"cucm-sub1.lab.example.com: SSH host key on port {ep.ssh_port} does not match {wrong} "
        "(tls.ssh_known_hosts in the inventory): "
    )
    assert message.endswith(
        "if the node was reinstalled or its key changed, check the new key out of band and "
        f"replace the node's line there (ssh-keyscan -p {ep.ssh_port} {ep.host})"
    )
    missing = tmp_path / "nowhere"
    with pytest.raises(CucmHostKeyError) as err:
        async with CucmCli(dataclasses.replace(ep, known_hosts=str(missing)), lab.os_admin):
            pass
    assert str(err.value) == (
        f"cucm-sub1.lab.example.com: cannot check its SSH host key: {missing} "
        "(tls.ssh_known_hosts in the inventory) does not exist"
    )


async def test_relative_tls_paths_are_relative_to_the_inventory(
    lab: LabHandle, tmp_path: Path
) -> None:
    """An inventory kept with its trust files, read from anywhere (not the working dir)."""
    site = tmp_path / "site"
    (site / "trust").mkdir(parents=True)
    tls = lab.cluster_entry.tls
    assert tls.ca_file and tls.ssh_known_hosts
    (site / "trust" / "cucm.pem").write_text(Path(tls.ca_file).read_text())
    (site / "trust" / "known_hosts").write_text(Path(tls.ssh_known_hosts).read_text())
    data = yaml.safe_load((lab.lab.state_dir / "inventory.yaml").read_text())
    data["clusters"][0]["tls"] = {
        "ca_file": "trust/cucm.pem",
        "ssh_known_hosts": "trust/known_hosts",
    }
    (site / "clusters.yaml").write_text(yaml.safe_dump(data))

    cluster = load_inventory(site / "clusters.yaml").cluster("lab")
    assert cluster.tls.ca_file == str(site / "trust" / "cucm.pem")
    ep = NodeEndpoint.from_inventory(cluster, cluster.node("cucm-pub"))
    assert ep.inventory_ca_file == TrustFile(
        str(site / "trust" / "cucm.pem"), "tls.ca_file of cluster lab in the inventory"
    )
    await service_status(ep, lab)
    async with CucmCli(ep, lab.os_admin) as shell:
        assert TOMCAT in await shell.service_list()
