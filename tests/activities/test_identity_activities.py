"""The steps that act on one node refuse another node answering at its address (issue 16),
run as activities against the lab: nothing happens on the node that answered.

The lab's journal records what really happened on which node.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import hashes
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cluster_models import (
    ClusterRef,
    CsrRequest,
    RegenerateRequest,
    RestartRequest,
    VerifyRequest,
)
from activities.cucm import CucmActivities
from tests.lab.conftest import LabHandle

SUB1, SUB2 = "cucm-sub1.lab.example.com", "cucm-sub2.lab.example.com"
WRITES = ("service.control", "identity.regenerated", "ctl.updated", "cli.command")


def swapped_inventory(lab: LabHandle, tmp_path: Path, node: str, other: str) -> Path:
    """A copy of the lab's inventory where ``node`` has the address of ``other``."""
    data: dict[str, Any] = yaml.safe_load((lab.lab.state_dir / "inventory.yaml").read_text())
    nodes = {n["fqdn"]: n for c in data["clusters"] for n in c["nodes"]}
    nodes[node]["address"] = nodes[other]["address"]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def effects_on(lab: LabHandle, hostname: str, since: int) -> list[str]:
    """What changed on ``hostname`` since ``since`` (CLI commands other than reads)."""
    found = []
    for e in lab.lab.journal.entries(since=since):
        if e.node != hostname or not e.kind.startswith(WRITES):
            continue
        command = str(e.data.get("command", ""))
        if e.kind == "cli.command" and command.startswith(("show ", "set cli")):
            continue
        found.append(f"{e.kind} {command}".strip())
    return found


async def refused(run: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as failed:
        await run
    assert failed.value.type == "CucmWrongNode" and failed.value.non_retryable
    return failed.value


@pytest.mark.parametrize("service", ["Cisco Tomcat", "Cisco CallManager"])
async def test_a_restart_is_refused_before_anything_happens_on_the_other_node(
    lab: LabHandle, tmp_path: Path, service: str
) -> None:
    acts = CucmActivities(inventory_loader=lambda: swapped_inventory(lab, tmp_path, SUB1, SUB2))
    since = lab.lab.journal.last_seq
    req = RestartRequest(
        cluster="lab", node=SUB1, service=service, not_before=datetime.now(UTC), poll_seconds=0.05
    )
    error = await refused(ActivityEnvironment().run(acts.restart_service, req))
    assert f"inventory node {SUB1}" in error.message and SUB2 in error.message
    assert effects_on(lab, "cucm-sub2", since) == []


async def test_regenerate_ctl_update_and_sso_disable_are_refused_on_another_node(
    lab: LabHandle, tmp_path: Path
) -> None:
    publisher = "cucm-pub.lab.example.com"
    acts = CucmActivities(
        inventory_loader=lambda: swapped_inventory(lab, tmp_path, publisher, SUB2)
    )
    since = lab.lab.journal.last_seq
    env = ActivityEnvironment()
    await refused(
        env.run(
            acts.regenerate_certificate,
            RegenerateRequest(cluster="lab", node=publisher, purpose="tomcat"),
        )
    )
    await refused(env.run(acts.ctl_update, ClusterRef(cluster="lab")))
    await refused(env.run(acts.disable_sso, ClusterRef(cluster="lab")))
    assert lab.lab.cluster.sso_enabled  # the default lab has SSO on: it still is
    await refused(env.run(acts.generate_csr, CsrRequest(cluster="lab", purpose="tomcat")))
    assert not lab.lab.journal.entries("csr.generated", since=since)
    assert effects_on(lab, "cucm-sub2", since) == []


async def test_a_verification_is_refused_and_never_reports_the_other_node(
    lab: LabHandle, tmp_path: Path
) -> None:
    acts = CucmActivities(inventory_loader=lambda: swapped_inventory(lab, tmp_path, SUB1, SUB2))
    # What cucm-sub2 serves: TLS alone would "verify" it for cucm-sub1 after a renewal.
    served = lab.lab.cluster.node("cucm-sub2").active["tomcat"].cert.fingerprint(hashes.SHA256())
    req = VerifyRequest(
        cluster="lab", node=SUB1, purpose="tomcat", expected_fingerprint=served.hex()
    )
    error = await refused(ActivityEnvironment().run(acts.verify_node, req))
    assert SUB2 in error.message


async def test_the_right_node_answers_as_itself_in_results(lab: LabHandle) -> None:
    acts = CucmActivities(inventory_loader=lambda: lab.lab.state_dir / "inventory.yaml")
    req = RestartRequest(
        cluster="lab",
        node=SUB1,
        service="Cisco CallManager",
        not_before=datetime.now(UTC),
        poll_seconds=0.05,
        expected_host_key=str(lab.lab.servers["cucm-sub1"].host_key.get_fingerprint("sha256")),
    )
    result = await ActivityEnvironment().run(acts.restart_service, req)
    assert result.answered_by == "cucm-sub1"
