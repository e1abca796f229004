"""The rollout of a change after its uploads: window, CTL update, restart waves, phone resets
and the health gates between them, in the order the restart planner's stages give.

The planner (``workflows.restarts``) decides the stages; this module only runs them: it waits
for the maintenance window, re-checks the impact approval before each stage that touches
phones, starts a stage only when the window leaves time for it, and after a wave that moved
phones waits until they are back (and gone from the nodes the next wave stops) or asks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.clients.inventory import short_name
    from activities.cluster_models import (
        ClusterRef,
        CtlResult,
        PhoneResetRequest,
        RegisteredPhonesRequest,
        RegistrationGateRequest,
        RegistrationGateResult,
        RestartRequest,
    )
    from activities.cucm import CucmActivities
    from workflows import policies
    from workflows import search_attributes as sa
    from workflows.failure_advice import step_failure
    from workflows.identity import check_answered
    from workflows.intents import CONFIRMED_AFTER_RETRY, IntentLog
    from workflows.ledger import ApprovalGates, Ledger
    from workflows.models import (
        FailedStep,
        Intent,
        Phase,
        RenewalInput,
        RenewalPlan,
        WaveProgress,
    )
    from workflows.node_waits import waiting_on
    from workflows.phone_resets import PhoneResetsInput, PhoneResetsResult, child_id, run_sweep
    from workflows.recovery import NodeStepRecovery
    from workflows.restart_models import NodeRestart, RestartPlan, RestartWave, RolloutStage
    from workflows.steps import RenewalStopped, run_activity
    from workflows.windows import WindowSpec, can_start_wave, in_window, next_window


#: Ungated resets (the SIP phones of the nodes the next wave stops) go in batches this many
#: times ``phone_reset_batch``, with this many AXL requests in flight.
UNGATED_BATCH_FACTOR = 4
UNGATED_CONCURRENCY = 32


def interleave(by_node: dict[str, list[str]]) -> list[str]:
    """Names taken from each node in turn (nodes in name order), so every batch of resets
    spreads its re-registrations over the nodes instead of queueing on one."""
    columns = [by_node[node] for node in sorted(by_node)]
    return [name for row in itertools.zip_longest(*columns) for name in row if name is not None]


class Rollout:
    """Runs the rollout stages of one change.

    Args:
        inp: the change's input (cluster, options).
        ledger: phases, audit and questions.
        gates: the approval gates (the impact approval is re-checked before each stage).
        windows: the maintenance windows that apply.
        roots: CA roots of the uploaded chains (trusted by the restart read-back).
        restarted: where to record, per node FQDN, the services restarted so far (what a
            stopped change tells its operator is still to restart).
        recovery: asks what to do when a node's restart fails after its retries; None (changes
            started before decisions existed): the change stops.
        host_keys: each node's SSH host key pinned at discovery (``workflows.identity``): a
            restart refuses a node that presents another.
    """

    def __init__(
        self,
        inp: RenewalInput,
        ledger: Ledger,
        gates: ApprovalGates,
        windows: Sequence[WindowSpec],
        roots: list[str],
        restarted: dict[str, list[str]] | None = None,
        recovery: NodeStepRecovery | None = None,
        host_keys: Mapping[str, str] | None = None,
    ) -> None:
        self._input = inp
        self._host_keys = dict(host_keys or {})
        self._recovery = recovery
        self._restarted = restarted if restarted is not None else {}
        self._ledger = ledger
        self._gates = gates
        self._windows = list(windows)
        self._roots = roots
        #: Phones per node (inventory FQDN) before anything moved them: where fallback leads.
        self._home_per_node: dict[str, int] = {}
        self._restarts: RestartPlan | None = None
        #: Phones reset so far by stages that go node by node (the last sweep skips them).
        self._reset_names: set[str] = set()
        #: Registrations counted before a wave's SIP phones were reset: that wave's baseline.
        self._wave_baseline: int | None = None
        #: Phone-reset children started so far (each gets its own id).
        self._reset_children = 0

    async def run(self, plan: RenewalPlan, restarts: RestartPlan) -> None:
        """Window, then every stage in order; a failed step or an abort stops the renewal."""
        inp = self._input
        ledger = self._ledger
        self._restarts = restarts
        if plan.phone_impact:
            await self._wait_for_window()
        self._window_deadline()
        ledger.set_progress(
            sa.Progress(
                restarts_total=sum(len(nr.services) for w in restarts.waves for nr in w.nodes)
            )
        )
        stages = restarts.stages
        if stages and stages[0].kind == "ctl-update":
            ledger.phase("ctl-update")
            intent, ctl = await ledger.intents.around(
                "ctl-update",
                "CTL file",
                "utils ctl update CTLFile on the publisher",
                waiting_on(
                    ledger.status,
                    workflow.now(),
                    plan.publisher,
                    "ctl-update",
                    run_activity(
                        CucmActivities.ctl_update,
                        ClusterRef(cluster=inp.cluster),
                        policies.with_heartbeat(
                            policies.CTL_UPDATE, inp.options.step_heartbeat_seconds
                        ),
                    ),
                    on_change=self._ledger.refresh_details,
                ),
            )
            record_ctl_update(ledger, intent, ctl)
        ledger.phase("restarts")
        started = workflow.now()
        for position, stage in enumerate(stages):
            if stage.kind == "phone-resets" and (stage.nodes or stage.sweep):
                if plan.phone_impact:
                    await self._gates.wait("impact", plan, recheck=True)
                    if not stage.gated:
                        # The wave must start right after these resets: it has to fit now.
                        following = stages[position + 1]
                        await self._fit_in_window(f"wave {following.wave}", "restarts")
                await self._phone_resets_stage(stage)
            elif stage.kind == "phone-resets":
                if plan.phone_impact:
                    await self._gates.wait("impact", plan, recheck=True)
                await self._staged_phone_resets()
            elif stage.kind == "wave":
                wave = restarts.wave(stage.wave)
                if plan.phone_impact:
                    await self._gates.wait("impact", plan, recheck=True)
                    await self._fit_in_window(f"wave {wave.index}", "restarts")
                    self._window_deadline()
                    ledger.phase("restarts")
                await self._run_wave(wave, started, stage.health_gate, stage.drain)

    async def _run_wave(
        self, wave: RestartWave, started: datetime, gated: bool, drain: Sequence[str]
    ) -> None:
        baseline = None
        if gated and self._wave_baseline is not None:
            baseline = self._wave_baseline
            self._ledger.status.registrations_baseline = baseline
            self._phones(None, baseline)
        elif gated:
            baseline = await self._registered_now()
            self._ledger.status.registrations_baseline = baseline
            self._phones(None, baseline)
        progress = self._wave_progress(wave)
        progress.state = "running"
        await asyncio.gather(*(self._restart_node(nr, started, progress) for nr in wave.nodes))
        progress.state = (
            "failed"
            if any(progress.node_state(nr.node) == "failed" for nr in wave.nodes)
            else "done"
        )
        if self._recovery is not None and self._recovery.rollback_after is not None:
            await self._recovery.roll_back()
        self._wave_baseline = None
        if baseline is not None:
            await self._health_gate(f"wave {wave.index}", baseline, drain=drain)
        self._ledger.status.waves_done = wave.index
        self._ledger.audit("ucrenew", "wave-done", f"wave {wave.index}: {_wave_text(wave)}")

    def _wave_progress(self, wave: RestartWave) -> WaveProgress:
        """The status entry of ``wave``: every service of each of its nodes, pending."""
        status = self._ledger.status
        for entry in status.waves:
            if entry.index == wave.index:
                return entry
        entry = WaveProgress(
            index=wave.index,
            services={nr.node: dict.fromkeys(nr.services, "pending") for nr in wave.nodes},
        )
        status.waves.append(entry)
        return entry

    def _restarts_later(self, fqdn: str, after: int) -> bool:
        """Whether a wave after ``after`` restarts the node too."""
        restarts = self._restarts
        return restarts is not None and any(
            w.index > after and any(nr.node == fqdn for nr in w.nodes) for w in restarts.waves
        )

    async def _restart_node(self, nr: NodeRestart, started: datetime, wave: WaveProgress) -> None:
        opts = self._input.options
        progress = self._ledger.status.node(nr.node)
        progress.steps["restart"] = "running"
        services = wave.services.setdefault(nr.node, {})
        policy = policies.restart_policy(
            opts.restart_timeout_seconds, opts.restart_heartbeat_seconds
        )
        for service in nr.services:
            services[service] = "running"
            while True:
                try:
                    await self._restart(nr.node, service, started, policy)
                    break
                except RenewalStopped as stop:
                    progress.steps["restart"] = "failed"
                    services[service] = "failed"
                    failed = FailedStep(
                        node=nr.node, step="restart", service=service, reason=stop.message
                    )
                    self._ledger.status.failures.append(step_failure(failed, wave.index))
                    if self._recovery is None:
                        raise
                    choice = await self._recovery.decide(failed)
                    if choice == "stop":
                        raise
                    if choice in ("skip", "rollback"):
                        if choice == "skip":
                            for name, state in services.items():
                                if state != "done":
                                    services[name] = "skipped"
                        return
                    progress.steps["restart"] = "running"
                    services[service] = "running"
            services[service] = "done"
            self._restarted.setdefault(nr.node, []).append(service)
            counters = self._ledger.progress
            self._ledger.set_progress(
                dataclasses.replace(counters, restarts_done=counters.restarts_done + 1)
            )
        # A node that restarts again in a later wave is not done with its restarts yet.
        progress.steps["restart"] = (
            "pending" if self._restarts_later(nr.node, wave.index) else "done"
        )

    async def _restart(
        self, node: str, service: str, started: datetime, policy: policies.ActivityPolicy
    ) -> None:
        """One service restart, its intent recorded first: a retry that finds the service
        started since the restarts began found ucrenew's own restart, and says so."""
        opts = self._input.options
        intents = self._ledger.intents
        request = RestartRequest(
            cluster=self._input.cluster,
            node=node,
            service=service,
            not_before=started,
            timeout_seconds=opts.restart_timeout_seconds,
            poll_seconds=opts.restart_poll_seconds,
            extra_roots_pem=self._roots,
            expected_host_key=self._host_keys.get(node, ""),
        )
        intent, result = await intents.around(
            "service-restart",
            f"{service} on {node}",
            "",
            waiting_on(
                self._ledger.status,
                workflow.now(),
                node,
                "restart",
                run_activity(CucmActivities.restart_service, request, policy),
                service=service,
                on_change=self._ledger.refresh_details,
            ),
        )
        try:
            check_answered(node, result.answered_by, f"restart of {service}")
        except RenewalStopped:
            intents.settle(intent, "unconfirmed", f"answered by {result.answered_by}")
            raise
        if result.already_done and intents.ours(intent, result.attempt):
            detail = f"{service} on {node}: restarted by ucrenew ({CONFIRMED_AFTER_RETRY})"
            intents.settle(intent, "done-after-retry", detail)
            self._ledger.audit("ucrenew", "service-restarted", detail)
        else:
            intents.settle(intent, "already" if result.already_done else "done", "")

    async def _staged_phone_resets(self) -> None:
        """Reset every registered phone in gated batches, before any node serves the new
        certificate: each batch is back before the next, and each starts inside the window.

        TFTP already serves the new ITL (and the CTL is updated in mixed mode), so a phone
        reset now trusts the new certificate wherever it fails over later, and CUCM has no
        phone left to reset when the certificate becomes active. Phones that were not
        registered when the resets began (a reset cannot reach them) are looked for once
        more at the end, so those back by then are reset too.
        """
        restarts = self._restarts
        opts = self._input.options
        if (
            restarts is not None
            and restarts.total_phones > opts.phone_resets_child_above
            and workflow.patched(PHONE_RESETS_CHILD)
        ):
            await self._phone_resets_in_child()
            return
        self._ledger.phase("phone-resets")
        reset: set[str] = set()
        for sweep in (False, True):
            registered = await run_activity(
                CucmActivities.registered_phones,
                RegisteredPhonesRequest(cluster=self._input.cluster),
                policies.PHONE_LIST,
            )
            names = [n for n in interleave(registered.by_node) if n not in reset]
            if sweep and not names:
                return
            await self._reset_in_batches(names, "late phone" if sweep else "phone")
            reset.update(names)

    async def _phone_resets_stage(self, stage: RolloutStage) -> None:
        """One node-by-node reset stage (``workflows.reset_order``): the phones of
        ``stage.protocol`` registered with ``stage.nodes``, or in the last sweep every
        registered phone no stage reached.

        An ungated stage records the registrations before its resets as the next wave's
        baseline and sends its batches back to back: the wave starts at once, while the
        phones boot, so they register with their secondary.
        """
        self._ledger.phase("phone-resets")
        registered = await run_activity(
            CucmActivities.registered_phones,
            RegisteredPhonesRequest(
                cluster=self._input.cluster, nodes=list(stage.nodes), protocol=stage.protocol
            ),
            policies.PHONE_LIST,
        )
        by_node = {
            n: v for n, v in registered.by_node.items() if not stage.nodes or n in stage.nodes
        }
        names = [n for n in interleave(by_node) if n not in self._reset_names]
        if not stage.gated:
            self._wave_baseline = await self._registered_now()
        if stage.sweep:
            kind = "late phone"
        else:
            kind = f"{stage.protocol} phone on {', '.join(short_name(n) for n in stage.nodes)}"
        if names:
            await self._reset_in_batches(names, kind, gated=stage.gated)
        self._reset_names.update(names)

    async def _phone_resets_in_child(self) -> None:
        """The staged resets of a very large cluster, by :mod:`workflows.phone_resets`: the
        child chooses the batches on the worker and reports each one; a failed gate or a
        window too short for the next batch comes back here, to ask as the batches in this
        workflow do, and the next child starts at the cursor."""
        inp = self._input
        opts = inp.options
        ledger = self._ledger
        policy = self._gates.policy
        ledger.phase("phone-resets")
        total = self._restarts.total_phones if self._restarts is not None else 0
        ledger.audit(
            "ucrenew",
            "phone-resets-planned",
            f"about {total} phones in batches of up to {opts.phone_reset_batch}, chosen on the "
            "worker in name order (phone-reset child workflows)",
        )
        start = PhoneResetsInput(
            cluster=inp.cluster,
            change_id=inp.change_id,
            batch_size=opts.phone_reset_batch,
            tolerance=policy.health_tolerance,
            timeout_seconds=policy.health_timeout_seconds,
            poll_seconds=opts.health_poll_seconds,
            heartbeat_seconds=opts.step_heartbeat_seconds,
            windows=self._windows,
            expected_wave_seconds=opts.expected_wave_seconds,
            batches_per_run=opts.phone_reset_batches_per_run,
        )
        done = await self._child_sweep(start)
        if done.late_over:
            ledger.audit(
                "ucrenew",
                "phone-resets-unchecked",
                f"{done.late_over} phones were not registered when their batch passed and are "
                "past the number looked for again: check that they registered since",
            )
        if done.late:
            late = start.model_copy(update={"kind": "late phone", "candidates": done.late})
            await self._child_sweep(late)

    async def _child_sweep(self, start: PhoneResetsInput) -> PhoneResetsResult:
        """One sweep, in as many children as its stops need."""
        ledger = self._ledger
        state = start
        while True:
            self._reset_children += 1
            segment = self._reset_children
            intent, result = await ledger.intents.around(
                "phone-reset",
                f"{state.kind} resets from batch {state.batches + 1}",
                f"child workflow {child_id(state.change_id, state.kind, segment)}",
                run_sweep(state, segment),
            )
            ledger.intents.settle(
                intent,
                "done",
                f"{result.reset - state.reset} of {result.requested - state.requested} reset",
            )
            state = state.model_copy(
                update={
                    "after": result.after,
                    "batches": result.batches,
                    "requested": result.requested,
                    "reset": result.reset,
                    "late": result.late,
                    "late_over": result.late_over,
                    "runs": 1,
                }
            )
            if result.stopped == "window":
                await self._fit_in_window(result.label, "phone-resets")
            elif result.stopped == "gate":
                await self._health_gate(
                    result.label, result.baseline, phase="phone-resets", first=result.gate
                )
            else:
                return result

    async def _reset_in_batches(self, names: list[str], kind: str, gated: bool = True) -> None:
        inp = self._input
        ledger = self._ledger
        size = inp.options.phone_reset_batch
        if not gated:
            # Every one of these phones must still be booting when the wave stops their node:
            # bigger batches, more requests in flight, so the last goes out soon after the first.
            size *= UNGATED_BATCH_FACTOR
        batches = [names[i : i + size] for i in range(0, len(names), size)]
        ledger.audit(
            "ucrenew",
            "phone-resets-planned",
            f"{len(names)} registered {kind}s in {len(batches)} batch(es) of up to {size}",
        )
        for number, batch in enumerate(batches, start=1):
            label = f"{kind} reset batch {number}/{len(batches)}"
            await self._fit_in_window(label, "phone-resets")
            baseline = await self._registered_now() if gated else 0
            intent, result = await ledger.intents.around(
                "phone-reset",
                label,
                f"{len(batch)} phones, {', '.join(batch[:3])}"
                + (", ..." if len(batch) > 3 else ""),
                run_activity(
                    CucmActivities.reset_phones,
                    PhoneResetRequest(
                        cluster=inp.cluster,
                        names=batch,
                        concurrency=8 if gated else UNGATED_CONCURRENCY,
                    ),
                    policies.PHONE_RESET,
                ),
            )
            ledger.intents.settle(intent, "done", f"{result.reset} of {result.requested} reset")
            ledger.status.phones_reset += result.reset
            detail = f"{label}: {result.reset} of {result.requested} phones reset"
            if result.not_found:
                detail += f"; no longer in the database: {', '.join(result.not_found[:5])}"
            ledger.audit("ucrenew", "phones-reset", detail)
            if gated:
                await self._health_gate(label, baseline, phase="phone-resets")

    async def _registered_now(self) -> int:
        """Phones registered now (RisPort); the first look also records where they live."""
        snap = await run_activity(
            CucmActivities.registration_snapshot,
            ClusterRef(cluster=self._input.cluster),
            policies.REGISTRY,
        )
        if not self._home_per_node:
            self._home_per_node = dict(snap.per_node)
        return snap.registered

    async def _health_gate(
        self,
        after: str,
        baseline: int,
        phase: Phase = "restarts",
        drain: Sequence[str] = (),
        first: RegistrationGateResult | None = None,
    ) -> None:
        """Wait until phones are back after ``after`` (and have left the ``drain`` nodes,
        which the next wave restarts); if they are not, ask the operator. ``first``: a wait
        already made (by a phone-reset child), asked about before waiting again."""
        policy = self._gates.policy
        while True:
            self._ledger.phase(phase)
            request = RegistrationGateRequest(
                cluster=self._input.cluster,
                baseline_registered=baseline,
                tolerance=policy.health_tolerance,
                timeout_seconds=policy.health_timeout_seconds,
                poll_seconds=self._input.options.health_poll_seconds,
                drain_nodes=list(drain),
                home_per_node=self._home_per_node if drain else {},
            )
            gate_policy = policies.health_gate_policy(
                policy.health_timeout_seconds, self._input.options.step_heartbeat_seconds
            )
            plan = self._ledger.status.plan
            if first is not None:
                result, first = first, None
            else:
                # RisPort on the publisher counts the phones of every node.
                result = await waiting_on(
                    self._ledger.status,
                    workflow.now(),
                    plan.publisher if plan is not None else "",
                    "phones",
                    run_activity(CucmActivities.wait_for_registrations, request, gate_policy),
                    service=after,
                    on_change=self._ledger.refresh_details,
                )
            self._phones(result.registered, baseline)
            if result.ok:
                return
            lingering = ""
            if result.lingering:
                lingering = (
                    f"; {sum(result.lingering.values())} phones have not fallen back from "
                    f"{', '.join(sorted(result.lingering))}, which the next wave restarts"
                )
            decision = await self._ledger.ask(
                "health-gate",
                f"after {after}, {result.registered} of {result.expected} phones "
                f"re-registered within {policy.health_timeout_seconds:g} s (e.g. "
                f"{', '.join(result.unregistered_sample[:5]) or 'n/a'} missing){lingering}: "
                "`continue` to wait again, `roll-forward` to go on with the next step anyway, "
                "or `abort`",
                ("continue", "roll-forward", "abort"),
            )
            if decision == "roll-forward":
                return
            if decision == "abort":
                raise RenewalStopped(
                    "HealthGateAborted",
                    f"aborted after {after}: phones did not come back "
                    f"({result.registered}/{result.expected})",
                )

    def _phones(self, back: int | None, baseline: int) -> None:
        self._ledger.set_progress(
            dataclasses.replace(self._ledger.progress, phones_back=back, phones_baseline=baseline)
        )

    def _window_deadline(self) -> None:
        """The dashboards' deadline: the end of the window the rollout runs in."""
        window = in_window(self._windows, workflow.now()) if self._windows else None
        self._ledger.set_deadlines(window.end if window is not None else None)

    def _fits(self) -> bool:
        wave_time = timedelta(seconds=self._input.options.expected_wave_seconds)
        return can_start_wave(self._windows, workflow.now(), wave_time)

    async def _fit_in_window(self, step: str, phase: Phase) -> None:
        """Start ``step`` only when the window leaves time for it; else ask (see below)."""
        if not self._fits():
            await self._window_closed(step)
            if phase == "phone-resets":
                self._ledger.phase(phase)

    async def _wait_for_window(self) -> None:
        """Sleep (durably) until a maintenance window is open."""
        now = workflow.now()
        if in_window(self._windows, now) is not None:
            return
        upcoming = next_window(self._windows, now)
        if upcoming is None:
            raise RenewalStopped(
                "NoMaintenanceWindow", "no maintenance window is left for the restarts"
            )
        self._ledger.set_deadlines(upcoming.end)
        self._ledger.phase("window", awaiting="window")
        self._ledger.audit(
            "ucrenew",
            "waiting-for-window",
            f"next window {upcoming.label or ''} opens {upcoming.start:%Y-%m-%d %H:%M} UTC",
        )
        notice = self._ledger.notifier.window_notice(upcoming.start - now)
        if notice is not None:
            # Tell people ahead of the window (a timer of its own, notifications only).
            if upcoming.start - notice > now:
                await workflow.sleep(
                    upcoming.start - notice - now, summary="notify: window opening soon"
                )
            self._ledger.notifier.window_soon(upcoming.start, upcoming.label or "")
            now = workflow.now()
        await workflow.sleep(
            upcoming.start - now,
            summary=f"maintenance window {upcoming.label or ''} opens "
            f"{upcoming.start:%Y-%m-%d %H:%M} UTC",
        )

    async def _window_closed(self, step: str) -> None:
        """The window ends before the next step (a wave, a reset batch) could finish: ask."""
        decision = await self._ledger.ask(
            "window",
            f"the maintenance window does not leave time for {step} "
            f"({self._ledger.status.waves_done} waves done): `resume` to continue in the next "
            "window, or `abort`",
            ("resume", "abort"),
        )
        if decision == "abort":
            raise RenewalStopped("WindowAborted", f"aborted at the end of the window before {step}")
        while not self._fits():
            await self._wait_for_window()
            if in_window(self._windows, workflow.now()) is None:
                continue
            if not self._fits():
                # Open but too short for a wave: wait for the one after it.
                window = in_window(self._windows, workflow.now())
                assert window is not None
                await workflow.sleep(
                    window.end - workflow.now(),
                    summary="window too short for a wave: wait for the next one",
                )


def _wave_text(wave: RestartWave) -> str:
    return "; ".join(f"{short_name(nr.node)}: {', '.join(nr.services)}" for nr in wave.nodes)


#: Patch: a cluster above ``phone_resets_child_above`` phones has them reset by child workflows.
PHONE_RESETS_CHILD = "phone-resets-child"

#: Audit action of a CTL that already listed the new certificate before this change updated it.
CTL_CURRENT = "ctl-current"


def record_ctl_update(ledger: Ledger, intent: Intent | None, ctl: CtlResult) -> None:
    """Settle the CTL update's intent and audit it truthfully.

    A read-back that found the CTL current is ucrenew's own update when a retry (or an earlier
    unconfirmed call) follows the recorded intent; otherwise the CTL was already so.
    """
    intents: IntentLog = ledger.intents
    if not ctl.already_done:
        intents.settle(intent, "done", ctl.detail)
        ledger.audit("ucrenew", "ctl-updated", ctl.detail)
    elif intents.ours(intent, ctl.attempt):
        detail = f"utils ctl update CTLFile: CTL file updated by ucrenew ({CONFIRMED_AFTER_RETRY})"
        intents.settle(intent, "done-after-retry", detail)
        ledger.audit("ucrenew", "ctl-updated", detail)
    else:
        intents.settle(intent, "already", ctl.detail)
        ledger.audit("ucrenew", CTL_CURRENT, ctl.detail)
