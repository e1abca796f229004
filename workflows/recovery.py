"""A node step that fails after its retries: the change pauses and an operator decides.

When a restart or a verification fails on a node (say Cisco Tomcat does not start on a
subscriber), the change asks, as the health gate does, and goes on with the answer:

- ``retry``: the operator fixed the node; the step runs again.
- ``skip``: the node is left out. It is recorded as not renewed, and once the other nodes are
  verified it is checked to serve its old certificate still; the change goes on without it.
- ``rollback``: what CUCM allows, since a certificate cannot be uninstalled: every node of the
  change regenerates its purposes self-signed (``set cert regen``) and restarts the services
  that serve them, approved first when that touches phones. The earlier CA-signed chain
  cannot be put back: it belongs to the key the change's CSR replaced.
- ``stop``: the change fails, with what is left to do (as before decisions existed).

Changes started before this (patch "node-step-decisions") fail at once, as they did.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Literal, NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import catalog
    from activities.clients.inventory import short_name
    from activities.cluster_models import (
        AssessRequest,
        RegenerateRequest,
        RestartRequest,
    )
    from activities.cucm import CucmActivities
    from workflows import policies
    from workflows.ledger import ApprovalGates, Ledger
    from workflows.models import FailedStep, Problem, RenewalInput, RenewalPlan
    from workflows.node_waits import waiting_on
    from workflows.steps import RenewalStopped, run_activity

Choice = Literal["retry", "skip", "rollback", "stop"]
CHOICES: tuple[Choice, ...] = ("retry", "skip", "rollback", "stop")
#: The patch of changes whose failed node steps ask instead of failing the change.
PATCH = "node-step-decisions"


def restart_command(service: str) -> str:
    """The VOS CLI command that restarts ``service`` on a node."""
    return f"utils service restart {service}"


class NodeStepRecovery:
    """Asks what to do about failed node steps of one change, and carries out the answer.

    Args:
        inp: the change's input.
        ledger: status, audit and questions.
        gates: the approval gates (a phone-impacting rollback is approved first).
        plan: the change's plan (its purposes, SANs and restarts).
    """

    def __init__(
        self, inp: RenewalInput, ledger: Ledger, gates: ApprovalGates, plan: RenewalPlan
    ) -> None:
        self._input = inp
        self._ledger = ledger
        self._gates = gates
        self._plan = plan
        # One question at a time: nodes of a wave restart (and verify) in parallel.
        self._asking = asyncio.Lock()
        #: The failure a rollback was chosen for; the rollback itself runs once the steps in
        #: flight have ended.
        self.rollback_after: str | None = None
        self._stopped = False

    # -- asking -------------------------------------------------------------------------

    async def decide(self, failed: FailedStep) -> Choice:
        """Ask what to do about ``failed``; a rollback or stop already chosen for another
        node of the same step answers for this one too."""
        ledger = self._ledger
        ledger.audit(
            "ucrenew",
            f"{failed.step}-failed",
            f"{failed.node}: {failed.service or failed.purpose}: {failed.reason}",
        )
        async with self._asking:
            if self._stopped:
                return "stop"
            if self.rollback_after is not None:
                return "rollback"
            ledger.status.failed_step = failed
            choice = await ledger.ask("node-step", self._question(failed), CHOICES)
            ledger.status.failed_step = None
        assert choice in CHOICES
        if choice == "stop":
            self._stopped = True
        elif choice == "rollback":
            self.rollback_after = f"{failed.step} on {failed.node} failed"
        elif choice == "skip":
            self.skip(failed)
        return choice

    def _question(self, failed: FailedStep) -> str:
        what = (
            f"restart of {failed.service}"
            if failed.step == "restart"
            else f"verification of {failed.purpose}"
        )
        return (
            f"the {what} on {failed.node} failed: {failed.reason}. "
            f"`retry` once the node is fixed, `skip` to leave {short_name(failed.node)} out "
            "(not renewed: the new certificate stays installed there but not active), "
            "`rollback` to regenerate "
            f"{', '.join(self._plan.purposes)} self-signed on every node of the change, or "
            "`stop` (the change fails with what is left to do)"
        )

    # -- skip ---------------------------------------------------------------------------

    def skip(self, failed: FailedStep) -> None:
        """Leave the node out: recorded as not renewed in its progress, status and audit."""
        status = self._ledger.status
        if failed.node not in status.skipped_nodes:
            status.skipped_nodes.append(failed.node)
        progress = status.node(failed.node)
        for step, state in progress.steps.items():
            if state != "done" or step == failed.step:
                progress.steps[step] = "skipped"
        progress.detail = f"left out after a failed {failed.step}: not renewed"
        self._ledger.audit("ucrenew", "node-skipped", f"{failed.node}: not renewed")

    def is_skipped(self, fqdn: str) -> bool:
        """Whether an operator left the node out."""
        return fqdn in self._ledger.status.skipped_nodes

    async def confirm_skipped(self) -> None:
        """The nodes left out still serve their old certificates: read what they serve, and
        say what would make the new one live there (it is installed, so a restart would)."""
        status = self._ledger.status
        if not status.skipped_nodes:
            return
        try:
            assessment = await run_activity(
                CucmActivities.assess_cluster,
                AssessRequest(cluster=self._input.cluster, purposes=self._plan.purposes),
                policies.ASSESS,
            )
        except RenewalStopped as stop:
            status.add_finding(
                Problem(
                    code="skipped-node-unread",
                    message=f"could not read what the nodes left out serve: {stop.message}",
                )
            )
            assessment = None
        states = {s.node: s for s in assessment.nodes} if assessment else {}
        services = self.services_by_node()
        for fqdn in status.skipped_nodes:
            progress = status.node(fqdn)
            state = states.get(fqdn)
            parts = []
            for purpose, entry in progress.certificates.items():
                served = None
                if state is not None:
                    served = (
                        state.served_serial
                        if purpose == "tomcat"
                        else state.served_by_purpose.get(purpose)
                    )
                entry.served_serial = served or entry.served_serial
                if served is not None and served == entry.old_serial:
                    parts.append(f"still serves its old {purpose} certificate (serial {served})")
                elif served is None:
                    # A service that did not start serves nothing: the old certificate is
                    # still the active one there, the new one goes live when it starts.
                    error = ""
                    if state is not None:
                        error = (
                            state.error
                            if purpose == "tomcat"
                            else state.errors_by_purpose.get(purpose)
                        ) or ""
                    parts.append(
                        f"serves no {purpose} certificate now"
                        + (f" ({error})" if error else "")
                        + "; the new one is installed there but not active"
                    )
                else:
                    parts.append(
                        f"serves {purpose} serial {served or 'unknown'}, not its old one "
                        f"({entry.old_serial or 'unknown'})"
                    )
                    status.add_finding(
                        Problem(
                            code="skipped-node-unexpected",
                            node=fqdn,
                            message=f"{fqdn} was left out but serves {purpose} serial "
                            f"{served or 'unknown'}, not its old certificate",
                        )
                    )
            progress.detail = "not renewed: " + ("; ".join(parts) or "left out")
            self._ledger.audit("ucrenew", "skipped-node-checked", f"{fqdn}: {progress.detail}")
            commands = ", ".join(f"`{restart_command(s)}`" for s in services.get(fqdn, []))
            status.outstanding.append(
                f"{fqdn} was left out and is not renewed: the new "
                f"{', '.join(self._plan.purposes)} certificate is installed there and goes live "
                f"at its next restart or reboot; once the node is fixed, run on {fqdn}: "
                f"{commands or 'a reboot'}"
            )

    # -- rollback -----------------------------------------------------------------------

    def services_by_node(self) -> dict[str, list[str]]:
        """The services the plan restarts per node (what serves the change's purposes)."""
        services: dict[str, list[str]] = {}
        for wave in self._plan.restarts.waves if self._plan.restarts else []:
            for nr in wave.nodes:
                services.setdefault(nr.node, []).extend(
                    s for s in nr.services if s not in services.get(nr.node, [])
                )
        return services

    def _rollback_nodes(self) -> dict[str, list[str]]:
        """Node -> the change's purposes it carries, in the plan's restart order."""
        nodes: dict[str, list[str]] = {}
        order = list(self._plan.restart_order)
        for purpose in self._plan.purposes:
            for fqdn in self._plan.san_by_purpose.get(purpose, []):
                nodes.setdefault(fqdn, []).append(purpose)
        return dict(
            sorted(
                nodes.items(),
                key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order),
            )
        )

    async def roll_back(self) -> NoReturn:
        """Regenerate the change's purposes self-signed on every node of the change and
        restart what serves them, node by node; then the change ends (``RolledBack``)."""
        ledger = self._ledger
        status = ledger.status
        nodes = self._rollback_nodes()
        services = self.services_by_node()
        after = self.rollback_after or "a failed step"
        ledger.phase("rollback")
        summary = "; ".join(
            f"{short_name(fqdn)}: set cert regen {', '.join(purposes)}, then restart "
            f"{', '.join(services.get(fqdn, [])) or 'nothing'}"
            for fqdn, purposes in nodes.items()
        )
        ledger.audit("ucrenew", "rollback-planned", summary)
        if catalog.phone_impact(self._plan.purposes):
            bound = "rollback-" + hashlib.sha256(summary.encode()).hexdigest()[:16]
            if not await self._gates.wait_bound("rollback", bound):
                raise RenewalStopped("RollbackRejected", f"the rollback after {after} was rejected")
            ledger.phase("rollback")
        not_before = workflow.now()
        opts = self._input.options
        policy = policies.restart_policy(
            opts.restart_timeout_seconds, opts.restart_heartbeat_seconds
        )
        regen_policy = policies.with_heartbeat(policies.REGENERATE, opts.step_heartbeat_seconds)
        for fqdn, purposes in nodes.items():
            progress = status.node(fqdn)
            progress.steps["rollback"] = "running"
            try:
                for purpose in purposes:
                    regen = RegenerateRequest(
                        cluster=self._input.cluster, node=fqdn, purpose=purpose
                    )
                    result = await waiting_on(
                        status,
                        workflow.now(),
                        fqdn,
                        "regenerate",
                        run_activity(CucmActivities.regenerate_certificate, regen, regen_policy),
                        service=purpose,
                        on_change=ledger.refresh_details,
                    )
                    status.rolled_back.setdefault(fqdn, []).append(purpose)
                    ledger.audit("ucrenew", "certificate-regenerated", result.detail)
                for service in services.get(fqdn, []):
                    restart = RestartRequest(
                        cluster=self._input.cluster,
                        node=fqdn,
                        service=service,
                        not_before=not_before,
                        timeout_seconds=opts.restart_timeout_seconds,
                        poll_seconds=opts.restart_poll_seconds,
                    )
                    intent, _ = await ledger.intents.around(
                        "service-restart",
                        f"{service} on {fqdn}",
                        "rollback",
                        waiting_on(
                            status,
                            workflow.now(),
                            fqdn,
                            "restart",
                            run_activity(CucmActivities.restart_service, restart, policy),
                            service=service,
                            on_change=ledger.refresh_details,
                        ),
                    )
                    ledger.intents.settle(intent, "done", "")
            except RenewalStopped as stop:
                progress.steps["rollback"] = "failed"
                commands = ", ".join(f"`{restart_command(s)}`" for s in services.get(fqdn, []))
                status.outstanding.append(
                    f"the rollback stopped on {fqdn}: run there `set cert regen "
                    f"{' / '.join(purposes)}` (each purpose) and then {commands or 'a reboot'}"
                )
                raise RenewalStopped(
                    "RollbackFailed",
                    f"the rollback after {after} stopped on {fqdn}: {stop.message}",
                ) from None
            progress.steps["rollback"] = "done"
            for step, state in progress.steps.items():
                if step != "rollback" and state != "done":
                    progress.steps[step] = "rolled-back"
        ledger.audit("ucrenew", "rolled-back", summary)
        raise RenewalStopped(
            "RolledBack",
            f"rolled back after {after}: {', '.join(self._plan.purposes)} regenerated "
            f"self-signed and restarted on {', '.join(short_name(n) for n in nodes)}",
        )
