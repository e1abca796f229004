"""What ucrenew did is recorded before it is done: the intent of every state-changing call.

Some effects read back the same whether ucrenew made them or found them so: SSO disabled, a CA
certificate in a trust store, the new certificate installed, a service started after the
restarts began. When a worker dies between the effect and its answer, the retried activity
finds the state already as wanted. Without a record made *before* the call, the audit trail
would then say "it was already so" and a cancel would no longer ask to undo it (re-enable SSO).

So the workflow records an :class:`~workflows.models.Intent` before it schedules such a call.
A read-back on a retry (or after an earlier call of the same effect that never answered) that
finds the state as wanted is ucrenew's doing, confirmed by read-back; an intent still open when
the change stops is "unconfirmed", and the actions left to an operator are derived from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import Intent, IntentEffect, IntentOutcome, RenewalStatus

#: Patch of changes that record intents (and derive audit wording and "left to do" from them).
PATCH = "intent-before-effect"

#: How the audit trail says that a retry's read-back found ucrenew's own effect.
CONFIRMED_AFTER_RETRY = "confirmed by read-back after a retry"

ResT = TypeVar("ResT")


class IntentLog:
    """The change's intents, kept in its status (so they are in its result and queries).

    Off (records nothing) for changes started before :data:`PATCH`.
    """

    def __init__(self, status: RenewalStatus) -> None:
        self._status = status
        self.enabled = False

    async def around(
        self, effect: IntentEffect, target: str, detail: str, call: Awaitable[ResT]
    ) -> tuple[Intent | None, ResT]:
        """Record the intent, then make ``call`` (an activity not scheduled yet).

        When the call fails or the change is cancelled while it runs, the intent stays on
        record as ``unconfirmed``: the effect may have happened.
        """
        intent = self.record(effect, target, detail)
        try:
            result = await call
        except BaseException:
            if intent is not None:
                intent.outcome = "unconfirmed"
            raise
        return intent, result

    def record(self, effect: IntentEffect, target: str, detail: str) -> Intent | None:
        """Record that ucrenew is about to ``effect`` on ``target`` (None when off)."""
        if not self.enabled:
            return None
        intent = Intent(at=workflow.now(), effect=effect, target=target, detail=detail)
        self._status.intents.append(intent)
        return intent

    def ours(self, intent: Intent | None, attempt: int) -> bool:
        """Whether a read-back that found the state already as wanted found ucrenew's effect:
        the activity was retried after its intent was recorded, or an earlier call of the same
        effect on the same target never confirmed."""
        if intent is None:
            return False
        if attempt > 1:
            return True
        return any(
            i is not intent
            and i.effect == intent.effect
            and i.target == intent.target
            and i.outcome == "unconfirmed"
            for i in self._status.intents
        )

    @staticmethod
    def settle(intent: Intent | None, outcome: IntentOutcome, result: str) -> None:
        """Record what came of an intent."""
        if intent is not None:
            intent.outcome = outcome
            intent.result = result

    def unconfirmed(self, effect: IntentEffect | None = None) -> list[Intent]:
        """Intents whose call never confirmed (of one effect, or all), oldest first."""
        return [
            i
            for i in self._status.intents
            if i.outcome in ("unconfirmed", "pending") and (effect is None or i.effect == effect)
        ]

    def close(self) -> None:
        """The change stops: every intent still pending is unconfirmed from now on."""
        for intent in self._status.intents:
            if intent.outcome == "pending":
                intent.outcome = "unconfirmed"


def left_to_do(intents: Sequence[Intent]) -> list[str]:
    """What an operator must check or do for calls that may have taken effect unconfirmed.

    SSO is not here: the workflow words it with the rest of its SSO advice. An intent that a
    later call of the same effect and target confirmed needs nothing.
    """
    open_outcomes = ("pending", "unconfirmed")
    actions: list[str] = []
    seen: set[tuple[str, str]] = set()
    for n, intent in enumerate(intents):
        key = (intent.effect, intent.target)
        if intent.outcome not in open_outcomes or key in seen:
            continue
        later = intents[n + 1 :]
        if any((i.effect, i.target) == key and i.outcome not in open_outcomes for i in later):
            continue
        seen.add(key)
        action = _action(intent)
        if action:
            actions.append(action)
    return actions


def _action(intent: Intent) -> str:
    where = f" ({intent.detail})" if intent.detail else ""
    if intent.effect == "trust-upload":
        return (
            f"{intent.target}: ucrenew uploaded CA certificates and the upload was not "
            f"confirmed before the change stopped{where}: check the trust store (`show cert list "
            "trust`); keep them for the next attempt, or remove those not wanted "
            f"(`set cert delete {intent.target} <file>.pem`)"
        )
    if intent.effect == "certificate-upload":
        # A per-node path names the node: "<purpose> on <node>".
        purpose = intent.target.split(" on ")[0]
        return (
            f"the new {intent.target} certificate may be installed: ucrenew uploaded it and "
            f"the upload was not confirmed before the change stopped{where}: check with "
            f"`show cert own {purpose}` on the nodes of its SAN; where it is installed it goes "
            "live at the next restart of the services that activate it, so restart them in a "
            "window (or start a new change)"
        )
    if intent.effect == "ctl-update":
        return (
            "the CTL update (`utils ctl update CTLFile`) was running when the change stopped "
            f"and was not confirmed{where}: check the CTL file (`show ctl`) and run it again "
            "before restarting Cisco TFTP"
        )
    if intent.effect == "service-restart":
        return (
            f"{intent.target}: ucrenew was restarting it and the restart was not confirmed "
            "(the step failed or the change stopped meanwhile): check the service is running "
            "(`utils service list`)"
        )
    if intent.effect == "trust-delete":
        return (
            f"{intent.target}: ucrenew was deleting them and the deletion was not confirmed "
            f"before the change stopped{where}: check the trust stores (`show cert list trust`) "
            "and delete those still listed (`set cert delete <store> <file>`)"
        )
    if intent.effect == "phone-reset":
        return (
            f"{intent.target}: ucrenew was resetting these phones when the change stopped"
            f"{where}: check they registered again (Cisco Unified CM Administration > Device > "
            "Phone, or RisPort)"
        )
    return ""
