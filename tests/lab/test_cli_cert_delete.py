"""``set cert delete trust`` in the lab's CLI, driven by the production client over SSH."""

from __future__ import annotations

import re

from lab import facts, pki
from tests.lab.conftest import LabHandle
from tests.lab.test_cli import cli


def self_signed_file(lab: LabHandle, owner: str, store: str = "tomcat-trust") -> str:
    """The file of ``owner``'s self-signed identity in ``store`` (trusted cluster-wide)."""
    cert = lab.lab.cluster.node(owner).own[store.removesuffix("-trust")].cert
    return f"{pki.common_name(cert.subject).replace(' ', '_')}_{pki.serial_hex(cert)}.pem"


async def test_delete_in_a_cluster_wide_store_reaches_every_node(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    name = self_signed_file(lab, "cucm-sub1")
    holders = [n for n in cluster.nodes if name in n.trust["tomcat-trust"]]
    assert len(holders) > 1
    async with cli(lab) as shell:
        assert await shell.delete_trust_certificate("tomcat-trust", name) is True
        # Idempotent: already gone is done.
        assert await shell.delete_trust_certificate("tomcat-trust", name) is False
    assert not any(name in n.trust["tomcat-trust"] for n in cluster.nodes)
    [entry] = lab.lab.journal.entries("trust.deleted")
    assert entry.node == "cucm-pub" and entry.data["file_name"] == name
    assert sorted(entry.data["nodes"]) == sorted(n.hostname for n in holders)


async def test_delete_in_a_node_local_store_leaves_the_other_nodes(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    name = self_signed_file(lab, "imp-pub", "cup-xmpp-trust")
    holders = [n for n in cluster.nodes if name in n.trust["cup-xmpp-trust"]]
    assert "cup-xmpp-trust" not in facts.DELETE_CLUSTER_WIDE_TRUST_STORES
    assert len(holders) > 1
    here = next(n for n in holders if n.hostname != "imp-pub")
    async with cli(lab, here.hostname) as shell:
        assert await shell.delete_trust_certificate("cup-xmpp-trust", name) is True
    assert [n for n in cluster.nodes if name in n.trust["cup-xmpp-trust"]] == [
        n for n in holders if n is not here
    ]


async def test_unknown_certificate_own_unit_and_a_no_are_refused(lab: LabHandle) -> None:
    name = self_signed_file(lab, "cucm-sub1")
    async with cli(lab) as shell:
        out = await shell.run("set cert delete trust tomcat-trust/nobody_01.pem")
        assert facts.CLI_CERT_NOT_FOUND.format(path="tomcat-trust/nobody_01.pem") in out
        assert facts.CLI_FAILED_LINE in out
        out = await shell.run("set cert delete own tomcat/tomcat.pem")
        assert facts.CLI_CERT_OWN_DELETE_REFUSED in out
        asked = re.compile(re.escape(facts.CLI_CERT_DELETE_PROMPT.format(path="x")[-15:]))
        out = await shell.run(f"set cert delete trust tomcat-trust/{name}", {asked: "no"})
        assert facts.CLI_CERT_DELETE_ABORTED in out
    assert name in lab.lab.cluster.node("cucm-pub").trust["tomcat-trust"]
    assert not lab.lab.journal.entries("trust.deleted")
