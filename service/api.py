"""The action API: every action on a renewal as a Temporal update (or, with ``?wait=false``
for approvals, the signal form), taken by the authenticated principal under the inventory's
policy. The principal and groups come from the sign-in, never from the request body."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.catalog import Purpose
from activities.clients.inventory import ChangePolicyEntry, InventoryError, load_inventory_cached
from activities.clients.key_material import KeyMaterialError, refuse_key_material
from service.deps import api_principal, service_settings, temporal_client
from service.errors import ApiError
from service.policy import allowed_actions, approval_policy, may_take
from service.principal import Principal
from workflows.models import (
    TERMINAL_PHASES,
    ApprovalInput,
    CaCheckInput,
    CaKind,
    CancellationNote,
    CertificateSubmission,
    OperatorDecision,
    RenewalInput,
    RenewalOptions,
    RenewalStatus,
    SsoConfirmation,
    SubmissionResult,
)
from workflows.renewal import CertRenewalWorkflow

__all__ = [
    "ActionResult",
    "ApproveBody",
    "CancelBody",
    "CommentBody",
    "DecideBody",
    "RenewalView",
    "StartBody",
    "StartResult",
    "SubmitCertBody",
    "change_policy",
    "router",
]

log = logging.getLogger("ucrenew.service.api")

router = APIRouter(prefix="/api/v1")

T = TypeVar("T")
Signed = Annotated[Principal, Depends(api_principal)]
TemporalClient = Annotated[Client, Depends(temporal_client)]

# Refusal codes of the workflow's approval checks, by the HTTP status they answer with.
_FORBIDDEN = {"not-an-approver", "self-approval", "not-permitted"}
_UNPROCESSABLE = {"justification-required", "missing-principal", "missing-plan-hash"}


class ApproveBody(BaseModel):
    """An approval of the open gate, bound to the plan the approver saw."""

    plan_hash: str = Field(min_length=1, description="the hash of the plan you reviewed")
    comment: str = Field(default="", description="the justification")


class CommentBody(BaseModel):
    """An action with an optional comment."""

    comment: str = ""


class SubmitCertBody(BaseModel):
    """A signed certificate from a manual CA."""

    certificate_pem: str = Field(min_length=1, repr=False)
    chain_pem: str | None = Field(default=None, repr=False)
    comment: str = ""


class DecideBody(BaseModel):
    """The answer to the renewal's question."""

    decision: str = Field(min_length=1, max_length=40)
    comment: str = ""


class CancelBody(BaseModel):
    """Why the change is cancelled."""

    reason: str = Field(min_length=1)


class RenewalView(BaseModel):
    """A renewal's status with what the signed-in person may do on it now."""

    status: RenewalStatus
    allowed_actions: list[str]
    url: str


class ActionResult(BaseModel):
    """The outcome of an action: the renewal's status after it (when the workflow answered
    with one) and what was done."""

    change_id: str
    action: str
    by: str
    status: RenewalStatus | None = None
    submission: SubmissionResult | None = None
    url: str


def change_policy(request: Request, cluster: str) -> ChangePolicyEntry | None:
    """The cluster's ``change_policy`` from the inventory the workers use.

    Raises:
        ApiError: 503 when the inventory cannot be read.
    """
    from workers.wiring import inventory_path

    path = inventory_path(service_settings(request).ucrenew)
    try:
        inventory = load_inventory_cached(path)
    except (InventoryError, OSError) as err:
        log.error("inventory %s: %s", path, err)
        raise ApiError(
            503, "inventory", "the service cannot read the inventory; see its log"
        ) from None
    entry = next((c for c in inventory.clusters if c.name == cluster), None)
    return entry.change_policy if entry is not None else None


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _refusal(err: ApplicationError) -> ApiError:
    kind = err.type or "Refused"
    code = kind.split(":", 1)[1] if kind.startswith("ApprovalRefused:") else _kebab(kind)
    if code in _FORBIDDEN:
        status = 403
    elif code in _UNPROCESSABLE or kind.startswith("Bad"):
        status = 422
    else:
        status = 409
    return ApiError(status, code, err.message)


async def _handle(client: Client, change_id: str) -> WorkflowHandle[Any, Any]:
    handle = client.get_workflow_handle_for(CertRenewalWorkflow.run, change_id)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "not-found", f"no renewal with change id {change_id}") from None
        raise _unavailable(err) from None
    if desc.status != WorkflowExecutionStatus.RUNNING:
        raise ApiError(
            409,
            "change-finished",
            f"{change_id} has ended ({desc.status.name.lower() if desc.status else 'closed'})",
        )
    return handle


def _unavailable(err: RPCError) -> ApiError:
    log.error("Temporal: %s", err)
    return ApiError(503, "temporal-unavailable", "Temporal does not answer; try again shortly")


async def _status(handle: WorkflowHandle[Any, Any]) -> RenewalStatus:
    try:
        return await handle.query(CertRenewalWorkflow.get_status)
    except RPCError as err:
        raise _unavailable(err) from None


async def _update(change_id: str, call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise _refusal(cause) from None
        raise ApiError(409, "refused", str(cause or err)) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "change-finished", f"{change_id} has ended") from None
        raise _unavailable(err) from None


def _require(
    principal: Principal, policy: ChangePolicyEntry | None, action: str, cluster: str
) -> None:
    if not may_take(principal, policy, action):
        groups = ", ".join(policy.actions.get(action, [])) if policy else ""  # type: ignore[call-overload]
        raise ApiError(
            403,
            "not-permitted",
            f"{principal.name} may not {action} on cluster {cluster}: the inventory reserves "
            f"it to {groups}",
        )


def _result(
    request: Request,
    change_id: str,
    action: str,
    principal: Principal,
    status: RenewalStatus | None = None,
    submission: SubmissionResult | None = None,
) -> ActionResult:
    settings = service_settings(request)
    log.info("%s: %s by %s", change_id, action, principal.name)
    return ActionResult(
        change_id=change_id,
        action=action,
        by=principal.name,
        status=status,
        submission=submission,
        url=settings.renewal_url(change_id),
    )


@router.get("/renewals/{change_id}")
async def get_renewal(
    request: Request, change_id: str, principal: Signed, client: TemporalClient
) -> RenewalView:
    """A renewal's status and the actions the signed-in person may take on it now."""
    handle = client.get_workflow_handle_for(CertRenewalWorkflow.run, change_id)
    try:
        status = await handle.query(CertRenewalWorkflow.get_status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "not-found", f"no renewal with change id {change_id}") from None
        raise _unavailable(err) from None
    actions: list[str] = []
    if status.phase not in TERMINAL_PHASES:
        policy = change_policy(request, status.cluster)
        actions = allowed_actions(principal, status, policy, datetime.now(UTC))
    return RenewalView(
        status=status,
        allowed_actions=actions,
        url=service_settings(request).renewal_url(change_id),
    )


@router.post("/renewals/{change_id}/approve")
async def approve(
    request: Request,
    change_id: str,
    body: ApproveBody,
    principal: Signed,
    client: TemporalClient,
    wait: bool = True,
) -> ActionResult:
    """Approve the open gate, bound to ``plan_hash``; ``?wait=false`` sends the signal form
    (the workflow records a refusal in the audit trail instead of answering)."""
    handle = await _handle(client, change_id)
    approval = ApprovalInput(
        principal=principal.name,
        groups=principal.groups,
        comment=body.comment,
        plan_hash=body.plan_hash,
    )
    if not wait:
        try:
            await handle.signal(CertRenewalWorkflow.approve_signal, approval)
        except RPCError as err:
            raise _unavailable(err) from None
        return _result(request, change_id, "approve-signal", principal)
    status = await _update(
        change_id, lambda: handle.execute_update(CertRenewalWorkflow.approve, approval)
    )
    return _result(request, change_id, "approve", principal, status)


@router.post("/renewals/{change_id}/reject")
async def reject(
    request: Request,
    change_id: str,
    principal: Signed,
    client: TemporalClient,
    body: CommentBody | None = None,
) -> ActionResult:
    """Reject the open gate's plan: approvers of the gate and the requester may."""
    handle = await _handle(client, change_id)
    status = await _status(handle)
    if status.gate is not None and status.awaiting == "approval":
        rules = approval_policy(change_policy(request, status.cluster), status.gate)
        groups = {g.casefold() for g in rules.approver_groups}
        is_requester = principal.name.casefold() == status.requested_by.strip().casefold()
        if groups and not is_requester and not groups & {g.casefold() for g in principal.groups}:
            raise ApiError(
                403,
                "not-an-approver",
                f"{principal.name} is in none of the approver groups of the {status.gate} "
                f"gate: {', '.join(rules.approver_groups)}",
            )
    rejection = ApprovalInput(
        principal=principal.name, groups=principal.groups, comment=(body or CommentBody()).comment
    )
    new = await _update(
        change_id, lambda: handle.execute_update(CertRenewalWorkflow.reject, rejection)
    )
    return _result(request, change_id, "reject", principal, new)


async def _checked(
    request: Request, client: Client, change_id: str, principal: Principal, action: str
) -> WorkflowHandle[Any, Any]:
    handle = await _handle(client, change_id)
    status = await _status(handle)
    _require(principal, change_policy(request, status.cluster), action, status.cluster)
    return handle


def _key_free_submission(body: SubmitCertBody) -> SubmitCertBody:
    """The submission, refused when any field holds private key material: a dependency, so
    the refusal comes before the Temporal client is even looked up.

    Raises:
        ApiError: 422 ``private-key``, naming what was found (never the key).
    """
    fields = (
        ("the certificate", body.certificate_pem),
        ("the chain", body.chain_pem),
        ("the comment", body.comment),
    )
    for what, text in fields:
        try:
            refuse_key_material(text, what)
        except KeyMaterialError as refused:
            raise ApiError(422, "private-key", str(refused)) from None
    return body


@router.post("/renewals/{change_id}/submit-cert")
async def submit_cert(
    request: Request,
    change_id: str,
    principal: Signed,
    body: Annotated[SubmitCertBody, Depends(_key_free_submission)],
    client: TemporalClient,
) -> ActionResult:
    """Hand in the signed certificate (manual CA); validated before it is accepted.

    A body holding private key material is refused (422 ``private-key``) before Temporal is
    asked anything: what reaches Temporal stays in the workflow history.
    """
    handle = await _checked(request, client, change_id, principal, "submit-cert")
    submission = CertificateSubmission(
        principal=principal.name,
        certificate_pem=body.certificate_pem,
        chain_pem=body.chain_pem,
        comment=body.comment,
    )
    result = await _update(
        change_id,
        lambda: handle.execute_update(CertRenewalWorkflow.submit_certificate, submission),
    )
    if not result.accepted:
        raise ApiError(
            422,
            "certificate-refused",
            f"the certificate was refused: {result.message}",
        )
    return _result(request, change_id, "submit-cert", principal, submission=result)


@router.post("/renewals/{change_id}/decide")
async def decide(
    request: Request,
    change_id: str,
    body: DecideBody,
    principal: Signed,
    client: TemporalClient,
) -> ActionResult:
    """Answer the renewal's question (the status's ``question`` says which answers fit)."""
    handle = await _checked(request, client, change_id, principal, "decide")
    try:
        answer = OperatorDecision.model_validate(
            {"principal": principal.name, "decision": body.decision, "comment": body.comment}
        )
    except ValidationError:
        raise ApiError(
            422,
            "bad-decision",
            f"'{body.decision}' is not an answer ucrenew knows: the renewal's question lists "
            "the answers it takes",
        ) from None
    status = await _update(
        change_id, lambda: handle.execute_update(CertRenewalWorkflow.decide, answer)
    )
    return _result(request, change_id, "decide", principal, status)


@router.post("/renewals/{change_id}/confirm-sso")
async def confirm_sso(
    request: Request,
    change_id: str,
    principal: Signed,
    client: TemporalClient,
    body: CommentBody | None = None,
) -> ActionResult:
    """Confirm SAML SSO was re-enabled in the GUI (the workflow checks the cluster)."""
    handle = await _checked(request, client, change_id, principal, "confirm-sso")
    confirmation = SsoConfirmation(
        principal=principal.name, comment=(body or CommentBody()).comment
    )
    status = await _update(
        change_id, lambda: handle.execute_update(CertRenewalWorkflow.confirm_sso, confirmation)
    )
    return _result(request, change_id, "confirm-sso", principal, status)


@router.post("/renewals/{change_id}/cancel")
async def cancel(
    request: Request,
    change_id: str,
    body: CancelBody,
    principal: Signed,
    client: TemporalClient,
) -> ActionResult:
    """Cancel the change: who and why go into the audit trail, then the workflow is
    cancelled and records where the cluster stands."""
    handle = await _checked(request, client, change_id, principal, "cancel")
    note = CancellationNote(principal=principal.name, reason=body.reason)
    status = await _update(
        change_id, lambda: handle.execute_update(CertRenewalWorkflow.record_cancellation, note)
    )
    try:
        await handle.cancel()
    except RPCError as err:
        raise _unavailable(err) from None
    return _result(request, change_id, "cancel", principal, status)


@router.post("/renewals/{change_id}/ca-check")
async def ca_check(
    request: Request, change_id: str, principal: Signed, client: TemporalClient
) -> ActionResult:
    """Ask the CA about the pending request now instead of at the next poll."""
    handle = await _checked(request, client, change_id, principal, "ca-check")
    check = CaCheckInput(principal=principal.name)
    status = await _update(
        change_id, lambda: handle.execute_update(CertRenewalWorkflow.check_ca, check)
    )
    return _result(request, change_id, "ca-check", principal, status)


class StartBody(BaseModel):
    """Start a renewal: the options of ``ucrenew start``; the requester is the signed-in
    person."""

    change_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")
    cluster: str = Field(min_length=1)
    purposes: list[Purpose] = Field(default_factory=lambda: list[Purpose](["tomcat"]))
    ca: CaKind = "local"
    ca_name: str | None = None
    ca_template: str | None = None
    windows: list[dict[str, Any]] = Field(default_factory=list)
    require_plan_approval: bool = False
    options: RenewalOptions = Field(default_factory=RenewalOptions)
    wait_seconds: float = Field(
        default=0.0, ge=0, le=120, description="wait this long for the preflight verdict"
    )


class StartResult(BaseModel):
    """A started renewal, with its preflight verdict when it came within the wait."""

    change_id: str
    cluster: str
    requested_by: str
    run_id: str | None
    new_attempt: bool
    verdict: RenewalStatus | None = None
    url: str


@router.post("/renewals", status_code=201)
async def start_renewal(
    request: Request, body: StartBody, principal: Signed, client: TemporalClient
) -> StartResult:
    """Start a renewal as the signed-in person (``requested_by``), under the cluster's
    ``change_policy.actions.start``; the same change-id rules as ``ucrenew start``."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from console.attempts import ChangeIdTaken, preflight_verdict, reuse_policy
    from workers.starting import start_renewal as start_renewal_workflow

    settings = service_settings(request)
    from workers.wiring import inventory_path

    try:
        inventory = load_inventory_cached(inventory_path(settings.ucrenew))
    except (InventoryError, OSError) as err:
        log.error("inventory: %s", err)
        raise ApiError(503, "inventory", "the service cannot read the inventory") from None
    entry = next((c for c in inventory.clusters if c.name == body.cluster), None)
    if entry is None:
        known = ", ".join(c.name for c in inventory.clusters) or "none"
        raise ApiError(
            404, "not-found", f"no cluster {body.cluster!r} in the inventory (known: {known})"
        )
    _require(principal, entry.change_policy, "start", body.cluster)
    inp = RenewalInput(
        change_id=body.change_id,
        cluster=body.cluster,
        purposes=body.purposes,
        ca=body.ca,
        ca_name=body.ca_name,
        ca_template=body.ca_template,
        windows=body.windows,
        requested_by=principal.name,
        require_plan_approval=body.require_plan_approval,
        options=body.options,
    )
    try:
        reuse = await reuse_policy(client, body.change_id)
        handle = await start_renewal_workflow(
            client,
            inp,
            task_queue=settings.ucrenew.task_queue,
            base_url=settings.base_url,
            id_reuse_policy=reuse,
        )
    except ChangeIdTaken as err:
        raise ApiError(409, "change-id-taken", str(err)) from None
    except WorkflowAlreadyStartedError:
        raise ApiError(
            409, "change-id-taken", f"change id {body.change_id} is already in use"
        ) from None
    except RPCError as err:
        raise _unavailable(err) from None
    log.info("%s: started on %s by %s", body.change_id, body.cluster, principal.name)
    verdict = await preflight_verdict(handle, body.wait_seconds) if body.wait_seconds else None
    return StartResult(
        change_id=body.change_id,
        cluster=body.cluster,
        requested_by=principal.name,
        run_id=handle.result_run_id,
        new_attempt=reuse == WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        verdict=verdict,
        url=settings.renewal_url(body.change_id),
    )
