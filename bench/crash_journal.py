"""What a renewal really did on the lab, against what it says it did.

The crash-and-fault matrix (:mod:`bench.bench_crash_matrix`) reads two records of one change:
the lab's journal (:mod:`lab.journal`, the oracle of every state change on the twin) and the
change's audit trail and plan (its :class:`~workflows.models.RenewalStatus`). This module holds
the pure comparison, so that it can be tested on hand-written journals:

- :func:`duplicated_effects`: a CUCM effect done twice in one change: the same identity or
  trust upload, a second ``utils ctl update CTLFile``, a second restart of a service on a node,
  a phone reset twice by ucrenew, ``utils sso disable`` while SSO was already disabled by it.
- :func:`false_audit_entries`: an audit entry that says "already so" while the journal shows
  ucrenew did it, or that claims an effect the journal lacks (a restart of a node, an upload,
  a CTL update, phone resets).

Journal entries name nodes by hostname; a change names them by FQDN: both are compared by
hostname (the first label).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lab.journal import JournalEntry
from workflows.models import AuditEvent, RenewalStatus

#: The journal's ``origin`` of a state change made over the admin CLI (ucrenew's SSH).
CLI_ORIGIN = "cli"
#: Service-control actions that begin a restart (a stop is followed by a start).
RESTART_ACTIONS = frozenset({"restart", "stop"})
#: The reason the lab gives a phone reset requested over AXL (ucrenew's doDeviceReset).
AXL_RESET = "reset:axl"
#: ``sso-disabled`` audit comments that mean "ucrenew changed nothing".
SSO_ALREADY = "already disabled"
#: ``certificate-uploaded`` comments (after "<purpose>: ") that mean "nothing was uploaded".
UPLOAD_ALREADY = "already installed"

_PHONES_RESET = re.compile(r": (\d+) of \d+ phones reset")
_TRUST_COMMENT = re.compile(r"^uploaded (?P<uploaded>.*); already present (?P<skipped>.*)$")


@dataclass(frozen=True)
class RestartClaim:
    """A restart the change says it did: ``service`` on ``node`` in wave ``wave``."""

    node: str
    service: str
    wave: int


def host(name: str | None) -> str:
    """The hostname of a node name or FQDN, lower case ("" for none)."""
    return (name or "").split(".", 1)[0].lower()


def restart_claims(status: RenewalStatus) -> list[RestartClaim]:
    """The restarts a change's status claims done: every service of every node of the waves
    up to ``waves_done`` of its plan."""
    plan = status.plan.restarts if status.plan is not None else None
    if plan is None:
        return []
    return [
        RestartClaim(node=nr.node, service=service, wave=wave.index)
        for wave in plan.waves
        if wave.index <= status.waves_done
        for nr in wave.nodes
        for service in nr.services
    ]


def duplicated_effects(entries: Iterable[JournalEntry]) -> list[str]:
    """Every CUCM effect the journal shows done more than once, one line each.

    Args:
        entries: The journal of one change (from just before it started).

    Returns:
        Human-readable descriptions; empty when every effect was done at most once.
    """
    found: list[str] = []
    identity: Counter[tuple[str, str]] = Counter()
    trust: Counter[tuple[str, str]] = Counter()
    restarts: Counter[tuple[str, str]] = Counter()
    resets: Counter[str] = Counter()
    resent: Counter[str] = Counter()
    ctl = 0
    sso_enabled: bool | None = None
    for e in entries:
        d = e.data
        if e.kind == "identity.uploaded":
            identity[(str(d.get("purpose")), str(d.get("fingerprint")))] += 1
        elif e.kind == "trust.uploaded":
            trust[(str(d.get("store")), str(d.get("fingerprint")))] += 1
        elif e.kind == "ctl.updated":
            ctl += 1
        elif e.kind == "service.control" and d.get("action") in RESTART_ACTIONS:
            restarts[(host(e.node), str(d.get("service")))] += 1
        elif e.kind in ("phone.unregistered", "phone.reset-undelivered"):
            if d.get("reason") == AXL_RESET:
                names = [str(p) for p in d.get("phones", [])]
                (resets if e.kind == "phone.unregistered" else resent).update(names)
        elif e.kind == "sso.enabled":
            sso_enabled = True
        elif e.kind == "sso.disabled":
            if sso_enabled is False and d.get("origin") == CLI_ORIGIN:
                found.append(f"utils sso disable again while SSO was disabled (seq {e.seq})")
            sso_enabled = False
    found += [
        f"identity certificate {purpose} {fp[:16]} uploaded {n} times"
        for (purpose, fp), n in identity.items()
        if n > 1
    ]
    found += [
        f"trust certificate {fp[:16]} uploaded to {store} {n} times"
        for (store, fp), n in trust.items()
        if n > 1
    ]
    if ctl > 1:
        found.append(f"CTL file updated {ctl} times")
    found += [
        f"{service} restarted {n} times on {node}"
        for (node, service), n in restarts.items()
        if n > 1
    ]
    twice = sorted(p for p, n in resets.items() if n > 1)
    if twice:
        found.append(f"{len(twice)} phone(s) rebooted by a reset more than once (e.g. {twice[0]})")
    again = sorted(p for p in resent if p in resets)
    if again:
        found.append(
            f"{len(again)} phone(s) sent a second reset while still rebooting from the first "
            f"(e.g. {again[0]})"
        )
    return found


def _names(text: str) -> list[str]:
    """The subjects of a trust-uploaded comment part: a list's repr (what follows it, such as
    a note on subjects confirmed after a retry, is not part of it), or none/nothing."""
    text = text.strip()
    if not text.startswith("[") or "]" not in text:
        return []
    try:
        value = ast.literal_eval(text[: text.index("]") + 1])
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def false_audit_entries(
    entries: Sequence[JournalEntry],
    audit: Sequence[AuditEvent],
    restarts: Sequence[RestartClaim] = (),
) -> list[str]:
    """Every audit entry (or restart claim) the journal contradicts, one line each.

    Args:
        entries: The journal of one change (from just before it started).
        audit: The change's audit trail.
        restarts: The restarts its status claims done (:func:`restart_claims`).

    Returns:
        Human-readable descriptions; empty when the audit trail is true to the journal.
    """
    found: list[str] = []
    sso_by_cli = [
        e for e in entries if e.kind == "sso.disabled" and e.data.get("origin") == CLI_ORIGIN
    ]
    trust_done = {
        str(e.data.get("subject"))
        for e in entries
        if e.kind == "trust.uploaded" and e.data.get("outcome") != "exists"
    }
    trust_tried = {str(e.data.get("subject")) for e in entries if e.kind == "trust.uploaded"}
    identity = {str(e.data.get("purpose")) for e in entries if e.kind == "identity.uploaded"}
    ctl = [e for e in entries if e.kind == "ctl.updated"]
    restarted = {
        (host(e.node), str(e.data.get("service")))
        for e in entries
        if e.kind == "service.control" and e.data.get("action") in RESTART_ACTIONS
    }
    reset_phones = {
        str(p)
        for e in entries
        if e.kind in ("phone.unregistered", "phone.reset-undelivered")
        and e.data.get("reason") == AXL_RESET
        for p in e.data.get("phones", [])
    }
    claimed_resets = 0
    for event in audit:
        said = f'audit {event.action} "{event.comment}"'
        if event.action == "sso-disabled":
            if SSO_ALREADY in event.comment and sso_by_cli:
                found.append(f"{said}, but the journal shows ucrenew's utils sso disable")
            elif SSO_ALREADY not in event.comment and not sso_by_cli:
                found.append(f"{said}, but the journal has no utils sso disable")
        elif event.action == "trust-uploaded":
            m = _TRUST_COMMENT.match(event.comment)
            if m is None:
                continue
            for name in _names(m["skipped"]):
                if name in trust_done:
                    found.append(f"{said}: {name} was uploaded by this change (journal)")
            for name in _names(m["uploaded"]):
                if name not in trust_tried:
                    found.append(f"{said}: the journal has no upload of {name}")
        elif event.action == "certificate-uploaded":
            purpose, _, rest = event.comment.partition(": ")
            if rest.startswith(UPLOAD_ALREADY) and purpose in identity:
                found.append(f"{said}, but the journal shows this change's upload of {purpose}")
            elif not rest.startswith(UPLOAD_ALREADY) and purpose not in identity:
                found.append(f"{said}, but the journal has no upload of {purpose}")
        elif event.action == "ctl-updated" and not ctl:
            found.append(f"{said}, but the journal has no CTL update")
        elif event.action == "ctl-current" and ctl:
            found.append(f"{said}, but the journal shows this change's CTL update")
        elif event.action == "phones-reset":
            m = _PHONES_RESET.search(event.comment)
            claimed_resets += int(m[1]) if m else 0
    if claimed_resets > len(reset_phones):
        found.append(
            f"audit claims {claimed_resets} phone resets; the journal shows {len(reset_phones)}"
        )
    for claim in restarts:
        if (host(claim.node), claim.service) not in restarted:
            found.append(
                f"wave {claim.wave} is done with {claim.service} restarted on {claim.node}, "
                "but the journal has no restart of it there"
            )
    return found
