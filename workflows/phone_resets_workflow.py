"""The phone-reset child workflow of a very large cluster (see :mod:`workflows.phone_resets`).

It has a module of its own because a module defining a workflow is executed again for every
workflow run in the sandbox: the renewal imports :mod:`workflows.phone_resets`, which is then
passed through and shared instead (``workers.sandbox``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import PhoneBatchRequest, RegistrationGateRequest
    from activities.cucm import CucmActivities
    from workflows import policies
    from workflows.phone_resets import (
        PROGRESS_SIGNAL,
        WORKFLOW_NAME,
        PhoneResetProgress,
        PhoneResetsInput,
        PhoneResetsResult,
        _activity,
        _add_late,
        _result,
        batch_label,
    )
    from workflows.steps import RenewalStopped
    from workflows.windows import can_start_wave


@workflow.defn(name=WORKFLOW_NAME)
class PhoneResetsWorkflow:
    """Resets the registered phones of one change's cluster in gated batches, by cursor."""

    @workflow.run
    async def run(self, inp: PhoneResetsInput) -> PhoneResetsResult:
        """Batches until none is left, a gate fails or the window is too short; each run
        continues-as-new when its history grows (see the module docstring)."""
        state = inp.model_copy(deep=True)
        done_here = 0
        try:
            while True:
                label = batch_label(state.kind, state.batches + 1)
                if not can_start_wave(
                    state.windows, workflow.now(), timedelta(seconds=state.expected_wave_seconds)
                ):
                    return _result(state, stopped="window", label=label)
                if done_here and (
                    (state.batches_per_run and done_here >= state.batches_per_run)
                    or workflow.info().is_continue_as_new_suggested()
                ):
                    state.runs += 1
                    workflow.continue_as_new(state)
                batch = await _activity(
                    CucmActivities.reset_phone_batch,
                    PhoneBatchRequest(
                        cluster=state.cluster,
                        after=state.after,
                        size=state.batch_size,
                        candidates=state.candidates,
                    ),
                    policies.with_heartbeat(policies.PHONE_RESET, state.heartbeat_seconds),
                    summary=label,
                )
                _add_late(state, batch)
                if not batch.requested:
                    return _result(state)
                done_here += 1
                state.batches += 1
                state.after = batch.last
                state.requested += batch.requested
                state.reset += batch.reset
                gate = await _activity(
                    CucmActivities.wait_for_registrations,
                    RegistrationGateRequest(
                        cluster=state.cluster,
                        baseline_registered=batch.registered,
                        tolerance=state.tolerance,
                        timeout_seconds=state.timeout_seconds,
                        poll_seconds=state.poll_seconds,
                    ),
                    policies.health_gate_policy(state.timeout_seconds, state.heartbeat_seconds),
                    summary=f"phones back after {label}",
                )
                await workflow.get_external_workflow_handle(state.change_id).signal(
                    PROGRESS_SIGNAL,
                    PhoneResetProgress(
                        label=label,
                        requested=batch.requested,
                        reset=batch.reset,
                        sample=batch.sample,
                        not_found=batch.not_found,
                        back=gate.registered,
                        baseline=batch.registered,
                    ),
                )
                if not gate.ok:
                    return _result(
                        state, stopped="gate", label=label, baseline=batch.registered, gate=gate
                    )
                if not batch.more:
                    return _result(state)
        except RenewalStopped as stop:
            raise ApplicationError(stop.message, type=stop.error_type, non_retryable=True) from None
