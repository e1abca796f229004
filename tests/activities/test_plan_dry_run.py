"""``ucrenew plan``: discovery and planning against the lab, writing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from rich.console import Console

from activities import catalog
from console.cli import _purposes
from console.planning import dry_run_json, dry_run_view
from lab.server import Lab
from lab.timing import FAST
from tests.activities.local_plan import local_dry_run
from tests.lab.conftest import lab_spec
from workers.settings import UcrenewSettings
from workflows.models import RenewalOptions
from workflows.restarts import explain


async def test_callmanager_dry_run_plans_waves_and_changes_nothing(tmp_path: Path) -> None:
    spec = lab_spec(version="12.5.1.14900-63", security_mode=1, phones={"count": 100})
    async with Lab(spec, tmp_path / "state" / "lab", FAST) as lab:
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=tmp_path / "state" / "lab" / "inventory.yaml"
        )
        since = lab.journal.last_seq
        # Like `ucrenew start`, the dry run refuses a phone-impacting change without a window.
        report = await local_dry_run(settings, "lab", ["CallManager"])
        unwindowed = report.problems
        assert [p.code for p in unwindowed] == ["no-maintenance-window"]
        start = datetime.now(UTC) + timedelta(hours=2)
        window = {"start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}
        report = await local_dry_run(settings, "lab", ["CallManager"], windows=[window])
        plan, problems = report.plan, report.problems
        writes = [
            e.kind
            for e in lab.journal.entries(since=since)
            if e.kind.split(".")[0] in ("csr", "trust", "identity", "service", "sso", "ctl")
        ]
    assert problems == []
    assert writes == []
    assert plan.restarts is not None and plan.restarts.ctl_update_first
    waves = plan.restarts.waves
    assert len(waves) >= 2
    groups = dict(lab.phones.groups)
    assert len(groups) == 2 and all(len(m) >= 2 for m in groups.values())
    for wave in waves:
        down = {n.node for n in wave.nodes if "Cisco CallManager" in n.services}
        for members in groups.values():
            fqdns = {lab.cluster.spec.fqdn(m) for m in members}
            assert fqdns - down, f"wave {wave.index} stops every member of a group"
    text = "\n".join(explain(plan.restarts))
    assert "utils ctl update CTLFile" in text and "fail over" in text
    assert [s.phase for s in plan.steps].index("ctl-update") < [s.phase for s in plan.steps].index(
        "restarts"
    )


async def test_ecdsa_purposes_in_ucrenew_plan(tmp_path: Path) -> None:
    purposes = _purposes(["tomcat-ECDSA", "CallManager-ECDSA"])
    assert purposes == ["tomcat-ECDSA", "CallManager-ECDSA"]
    start = datetime.now(UTC) + timedelta(hours=2)
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}
    for version, refused in (("14.0.1.13900-155", False), ("12.5.1.14900-63", True)):
        spec = lab_spec(version=version)
        state = tmp_path / version / "state"
        async with Lab(spec, state / "lab", FAST):
            settings = UcrenewSettings(state_dir=state, inventory=state / "lab" / "inventory.yaml")
            report = await local_dry_run(settings, "lab", purposes, windows=[window])
        console = Console(width=200, record=True)
        console.print(dry_run_view(report))
        text = console.export_text()
        codes = [p.code for p in report.errors]
        if refused:
            assert codes == ["purpose-not-on-release"] * 2, codes
            assert "tomcat-ECDSA exists on CUCM 14.0 and later" in text
            continue
        assert codes == [], report.errors
        steps = report.plan.steps
        assert [s.action for s in steps if s.phase == "csr"] == [
            "generate multi-server tomcat-ECDSA CSR via Certificate Management REST",
            "generate multi-server CallManager-ECDSA CSR via Certificate Management REST",
        ]
        assert all(s.detail.endswith("key EC 256, hash SHA256") for s in steps if s.phase == "csr")
        assert "HTTPS 8443 (ECDSA-only handshake)" in text
        assert "SIP TLS 5061 (ECDSA-only handshake)" in text
        # 14SU3: Tomcat and DRF for tomcat-ECDSA, CallManager and HAProxy for the other.
        pub = next(s for s in steps if s.phase == "restarts" and s.node.startswith("cucm-pub"))
        assert pub.action == (
            "restart Cisco Tomcat, Cisco CallManager, Cisco HAProxy, Cisco DRF Local, "
            "Cisco DRF Master"
        )
        # Discovery read what each node serves for both purposes.
        for node in report.snapshot.nodes:
            assert "tomcat-ECDSA" in node.certificates, node.certificate_errors


async def test_capped_tomcat_plan_shows_what_users_lose_per_wave(tmp_path: Path) -> None:
    spec = lab_spec()
    state = tmp_path / "state"
    async with Lab(spec, state / "lab", FAST):
        inventory = state / "lab" / "inventory.yaml"
        data = yaml.safe_load(inventory.read_text())
        data["clusters"][0].setdefault("change_policy", {})["restarts"] = {
            "tomcat": "capped",
            "max_parallel": 3,
        }
        inventory.write_text(yaml.safe_dump(data))
        settings = UcrenewSettings(state_dir=state, inventory=inventory)
        report = await local_dry_run(settings, "lab", ["tomcat"])
        override = await local_dry_run(
            settings, "lab", ["tomcat"], options=RenewalOptions(restart_parallel=1)
        )
    assert report.plan.restarts is not None and override.plan.restarts is not None
    waves = [[nr.node.split(".")[0] for nr in w.nodes] for w in report.plan.restarts.waves]
    assert waves == [["cucm-pub"], ["cucm-sub1", "cucm-sub2", "imp-pub"]]
    assert len(override.plan.restarts.waves) == 4
    console = Console(width=240, record=True)
    console.print(dry_run_view(report))
    text = console.export_text()
    assert "Cisco Tomcat restarts in capped waves" in text
    assert f"users lose meanwhile: {catalog.WEB_ADMIN}" in text
    assert f"users lose meanwhile: {catalog.IMP_ADMIN}; {catalog.IMP_JABBER}" in text
    assert "still serving the web, AXL and UDS: cucm-pub" in text
    dumped = dry_run_json(report)["plan"]["restarts"]["waves"]
    assert dumped[1]["tomcat_up"] == [spec.fqdn("cucm-pub")]
    imp = next(n for n in dumped[1]["nodes"] if n["product"] == "imp")
    assert imp["unavailable"] == [catalog.IMP_ADMIN, catalog.IMP_JABBER]
