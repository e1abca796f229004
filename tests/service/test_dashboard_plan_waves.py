"""The renewal page's restart waves say what users lose meanwhile and who still serves."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from types import SimpleNamespace

from activities import catalog
from console.planning import unverified_lines
from service.dashboard.router import PHASES, templates
from service.principal import Principal
from service.readmodel import RenewalDetail, RenewalRow
from tests.workflows.test_capped_tomcat_waves import snapshot
from workflows.models import RenewalOptions, RenewalStatus
from workflows.plan import compose_plan


def test_each_wave_lists_the_losses_of_its_nodes() -> None:
    plan = compose_plan(snapshot(2, 1), ["tomcat"], RenewalOptions(), tomcat_parallel=3)
    status = RenewalStatus(
        change_id="CHG1",
        cluster="lab",
        purposes=["tomcat"],
        ca="local",
        requested_by="alice",
        plan=plan,
    )
    row = RenewalRow(change_id="CHG1", cluster="lab")
    detail = RenewalDetail(change_id="CHG1", execution_status="running", status=status, row=row)
    page = templates.get_template("renewal.html").render(
        request=SimpleNamespace(session={}),
        principal=Principal(name="rita", groups=[], via="password"),
        now=datetime.now(UTC),
        phases=PHASES,
        d=detail,
        s=status,
        row=row,
        actions=[],
        required=0,
        gate_approvals={},
        policy_error="",
        decisions=[],
    )
    table = page[page.index('id="plan-waves"') : page.index("</table>", page.index("plan-waves"))]
    assert "Users lose meanwhile" in table
    cells = [html.unescape(c) for c in re.findall(r'<td class="wave-loss">(.*?)</td>', table)]
    assert len(cells) == 2
    assert catalog.DRF_BACKUP in cells[0] and catalog.DRF_BACKUP not in cells[1]
    assert f"imp-0.example.com: {catalog.IMP_ADMIN}; {catalog.IMP_JABBER}" in cells[1]
    assert cells[1].endswith("still serving: cucm-pub.example.com")


def test_the_plan_names_the_unverified_behaviours_it_depends_on() -> None:
    """Capped Tomcat waves rely on ``inferred.IMP_NODES_PER_TOMCAT_WAVE``: the renewal page
    and ``ucrenew plan`` both name the constant (the plan's ``--json`` carries the list)."""
    plan = compose_plan(snapshot(2, 1), ["tomcat"], RenewalOptions(), tomcat_parallel=3)
    constant = "activities.clients.cucm.inferred.IMP_NODES_PER_TOMCAT_WAVE"
    assert [u.constant for u in plan.unverified] == [constant]
    assert plan.model_dump(mode="json")["unverified"][0]["constant"] == constant
    status = RenewalStatus(
        change_id="CHG1",
        cluster="lab",
        purposes=["tomcat"],
        ca="local",
        requested_by="alice",
        plan=plan,
    )
    row = RenewalRow(change_id="CHG1", cluster="lab")
    detail = RenewalDetail(change_id="CHG1", execution_status="running", status=status, row=row)
    page = templates.get_template("renewal.html").render(
        request=SimpleNamespace(session={}),
        principal=Principal(name="rita", groups=[], via="password"),
        now=datetime.now(UTC),
        phases=PHASES,
        d=detail,
        s=status,
        row=row,
        actions=[],
        required=0,
        gate_approvals={},
        policy_error="",
        decisions=[],
    )
    listed = page[
        page.index('id="plan-unverified"') : page.index("</ul>", page.index("plan-unverified"))
    ]
    assert f"<code>{constant}</code>" in listed
    lines = [line.plain for line in unverified_lines(plan)]
    assert lines[1].startswith(f"    UNVERIFIED {constant}: at most 1 IM&P node")
    # A plan without such a dependency says nothing of the kind.
    quiet = compose_plan(snapshot(2, 1), ["tomcat"], RenewalOptions(), tomcat_parallel=1)
    assert quiet.unverified == [] and unverified_lines(quiet) == []
    assert (
        quiet.plan_hash != ""
        and plan.plan_hash
        == compose_plan(snapshot(2, 1), ["tomcat"], RenewalOptions(), tomcat_parallel=3).plan_hash
    )
