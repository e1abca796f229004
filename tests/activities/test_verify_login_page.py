"""verify_node for tomcat ends with the procedure's last step: the node's administration login
page, fetched over the verified connection that presents the uploaded certificate.

Cisco's tech note 118731 has the administrator browse ``https://<fqdn>:8443/ccmadmin`` on each
node; IM&P serves its administration at /cupadmin.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.cluster_models import VerifyRequest
from activities.cucm import CucmActivities
from lab import pki
from lab.faults import Fault
from tests.activities.test_phone_activities import activities_at, edited_inventory, failure
from tests.lab.conftest import LabHandle


def trusting_tomcat(lab: LabHandle, tmp_path: Path) -> CucmActivities:
    """Activities whose inventory trusts exactly the nodes' active tomcat certificates."""
    trust = tmp_path / "tomcat-trust.pem"
    trust.write_text("".join(n.active["tomcat"].pem for n in lab.lab.cluster.nodes))
    tls = {**lab.cluster_entry.tls.model_dump(), "ca_file": str(trust)}
    return activities_at(edited_inventory(lab, tmp_path, tls=tls))


def request(lab: LabHandle, host: str) -> VerifyRequest:
    node = lab.lab.cluster.node(host)
    return VerifyRequest(
        cluster="lab",
        node=node.fqdn,
        purpose="tomcat",
        expected_fingerprint=pki.fingerprint(node.active["tomcat"].cert),
    )


@pytest.mark.parametrize(
    ("host", "page"),
    [
        ("cucm-sub1", "/ccmadmin/showHome.do (Cisco Unified CM Console)"),
        ("imp-pub", "/cupadmin/showHome.do (Cisco Unified CM IM and Presence Administration)"),
    ],
)
async def test_verify_reaches_the_login_page_over_the_served_certificate(
    lab: LabHandle, tmp_path: Path, host: str, page: str
) -> None:
    result = await ActivityEnvironment().run(
        trusting_tomcat(lab, tmp_path).verify_node, request(lab, host)
    )
    assert result.ok and result.login_page == page


async def test_verify_fails_when_the_admin_application_answers_404(
    lab: LabHandle, tmp_path: Path
) -> None:
    await lab.lab.add_fault(Fault(kind="webapp-down", node="cucm-sub2", target="ccmadmin"))
    acts = trusting_tomcat(lab, tmp_path)
    err = await failure(ActivityEnvironment().run(acts.verify_node, request(lab, "cucm-sub2")))
    assert err.type == "VerifyFailed" and not err.non_retryable
    assert err.message.startswith(
        "cucm-sub2.lab.example.com:8443 serves the new certificate, but /ccmadmin/ answers "
        "HTTP 404 (titled 'HTTP Status 404 \u2013 Not Found'), not its login page"
    )
    # Other nodes are unaffected.
    assert (await ActivityEnvironment().run(acts.verify_node, request(lab, "cucm-sub1"))).ok


async def test_verify_fails_when_the_page_is_not_a_login_page(
    lab: LabHandle, tmp_path: Path
) -> None:
    # The node answers 200 on its web pages, with something that is not the login form.
    await lab.lab.add_fault(
        Fault(kind="http-error", node="cucm-pub", target="web", params={"status": 200})
    )
    acts = trusting_tomcat(lab, tmp_path)
    err = await failure(ActivityEnvironment().run(acts.verify_node, request(lab, "cucm-pub")))
    assert err.type == "VerifyFailed"
    assert "/ccmadmin/ answers HTTP 200 with '200 injected by the lab', not a login page" in (
        err.message
    )


async def test_other_purposes_do_not_fetch_a_web_page(lab: LabHandle, tmp_path: Path) -> None:
    # The SIP TLS port is checked by its handshake alone: a broken web application does not
    # fail a CallManager verification.
    await lab.lab.add_fault(Fault(kind="webapp-down", node="cucm-sub1"))
    node = lab.lab.cluster.node("cucm-sub1")
    trust = tmp_path / "cm-trust.pem"
    trust.write_text(
        "".join(
            n.active["CallManager"].pem for n in lab.lab.cluster.nodes if "CallManager" in n.active
        )
    )
    tls = {**lab.cluster_entry.tls.model_dump(), "ca_file": str(trust)}
    acts = activities_at(edited_inventory(lab, tmp_path, tls=tls))
    result = await ActivityEnvironment().run(
        acts.verify_node,
        VerifyRequest(
            cluster="lab",
            node=node.fqdn,
            purpose="CallManager",
            expected_fingerprint=pki.fingerprint(node.active["CallManager"].cert),
        ),
    )
    assert result.ok and result.login_page == ""
