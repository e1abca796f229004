"""The fleet scan's look-ups: each cluster's auto-renew policy from the inventory, and the CA
certificates of the chains ucrenew installed (for ``ca-expiring``), on a real Temporal."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from cryptography import x509
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.clients.ca.local import LocalCa
from activities.clients.trust_store import TrustStore
from activities.cluster_models import ClusterRef
from activities.fleet import FleetActivities
from activities.fleet_models import FleetInventoryRequest

CLUSTER = {
    "domain": "x.test",
    "publisher": "cucm-pub.x.test",
    "nodes": [{"fqdn": "cucm-pub.x.test", "role": "publisher"}],
    "credentials": {
        "os_admin": {"username": "admin", "password": "env:NOPE"},
        "app_user": {"username": "axl", "password": "env:NOPE"},
    },
}


def write_inventory(path: Path) -> Path:
    clusters = [
        {**CLUSTER, "name": "plain"},
        {
            **CLUSTER,
            "name": "auto",
            "change_policy": {
                "auto_renew": {"enabled": True, "purposes": ["tomcat"], "threshold_days": 45}
            },
        },
    ]
    path.write_text(yaml.safe_dump({"clusters": clusters}))
    return path


async def test_the_inventory_gives_each_cluster_its_auto_renew_policy(
    dev_server_env: Client, tmp_path: Path
) -> None:
    inventory = write_inventory(tmp_path / "clusters.yaml")
    acts = FleetActivities(lambda: inventory, dev_server_env)
    found = await ActivityEnvironment().run(acts.fleet_inventory, FleetInventoryRequest())
    policies = {t.cluster: t.auto_renew for t in found.targets}
    assert policies["plain"] is None
    auto = policies["auto"]
    assert auto is not None and auto.enabled and auto.purposes == ["tomcat"]
    assert auto.threshold_days == 45 and auto.require_plan_approval
    assert auto.on_drift == ["node-not-in-san", "self-signed", "name-mismatch", "ca-expiring"]


async def test_the_cas_ucrenew_installed_come_with_the_last_renewals(
    dev_server_env: Client, tmp_path: Path
) -> None:
    corp = LocalCa(tmp_path / "corp-ca", name="corp", key_size=2048)
    store = TrustStore(tmp_path / "trust")
    cluster = f"cas-{uuid.uuid4().hex[:8]}"
    store.record(cluster, "tomcat", [corp.intermediate_pem, corp.root_pem])
    inventory = write_inventory(tmp_path / "clusters.yaml")
    acts = FleetActivities(lambda: inventory, dev_server_env, store)

    last = await ActivityEnvironment().run(
        acts.last_renewed_certificates, ClusterRef(cluster=cluster)
    )
    intermediate = x509.load_pem_x509_certificate(corp.intermediate_pem.encode())
    by_subject = {ca.subject: ca for ca in last.cas}
    known = by_subject[intermediate.subject.rfc4514_string()]
    assert known.issuer == intermediate.issuer.rfc4514_string()
    assert known.not_after == intermediate.not_valid_after_utc
    assert len(last.cas) == 2 and last.by_purpose == {}

    # A damaged trust file costs the CA check only, not the scan.
    store.path(cluster).write_text("-----BEGIN CERTIFICATE-----\nbad\n-----END CERTIFICATE-----\n")
    damaged = await ActivityEnvironment().run(
        acts.last_renewed_certificates, ClusterRef(cluster=cluster)
    )
    assert damaged.cas == []
