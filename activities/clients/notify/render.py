"""One notification, laid out for each channel.

:func:`compose` turns an event into a :class:`Message` (headline, what happened, what is
asked of whom, the renewal page link); the other functions lay it out per channel:

- :func:`webhook_body`: ucrenew's own JSON schema (``ucrenew.notification/v1``,
  docs/operator-guide.md), signed by :func:`sign`;
- :func:`teams_payload`: a message with one Adaptive Card attachment, the form Teams
  Workflows and incoming webhooks accept;
- :func:`slack_payload`: Block Kit blocks with a ``text`` fallback for notifications;
- :func:`webex_payload`: a Messages API (or incoming webhook) body in markdown;
- :func:`email_message`: a plain-text e-mail.

Nothing here holds a secret: webhook URLs and tokens are added by ``deliver``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Final

from activities.clients.links import campaign_link, renewal_link
from activities.clients.notify.models import TITLES, NotificationEvent, utc_text

SCHEMA: Final = "ucrenew.notification/v1"
SIGNATURE_HEADER: Final = "X-Ucrenew-Signature"
TIMESTAMP_HEADER: Final = "X-Ucrenew-Timestamp"
DELIVERY_HEADER: Final = "X-Ucrenew-Delivery"

NO_LINK: Final = (
    "No link to the renewal page: UCRENEW_SERVICE_BASE_URL is not set on the workers "
    "(ucrenew show {change_id} gives the same picture)."
)


@dataclass(frozen=True)
class Message:
    """A notification as people read it, before any channel's layout.

    Attributes:
        event: The event it tells about.
        title: ``[ucrenew] <cluster> <change>: <what>``.
        url: The renewal page, or None when the service's base URL is not configured.
        link_note: What to say instead of a link (empty with a link).
        facts: (name, value) pairs: cluster, change, event, phase, purposes, time.
    """

    event: NotificationEvent
    title: str
    url: str | None
    link_note: str
    facts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The message as plain text: summary, what is asked, details, link."""
        lines = [self.title, "", self.event.summary]
        if self.event.asked:
            lines += ["", f"Asked: {self.event.asked}"]
        if self.event.details:
            lines += ["", *(f"- {d}" for d in self.event.details)]
        lines += ["", *(f"{name}: {value}" for name, value in self.facts)]
        lines += ["", f"Renewal page: {self.url}" if self.url else self.link_note]
        return "\n".join(lines)


def compose(event: NotificationEvent, base_url: str | None) -> Message:
    """The message for ``event``; ``base_url`` is the service's (None: no link, and the
    message says why)."""
    if not base_url:
        url = None
    elif event.kind == "test":
        url = base_url.rstrip("/") + "/"  # no renewal behind a test: the service itself
    elif event.kind == "campaign-paused":
        url = campaign_link(base_url, event.change_id)  # the change id is the campaign's
    else:
        url = renewal_link(base_url, event.change_id)
    return Message(
        event=event,
        title=f"[ucrenew] {event.cluster} {event.change_id}: {TITLES[event.kind]}",
        url=url,
        link_note="" if url else NO_LINK.format(change_id=event.change_id),
        facts=[
            ("Cluster", event.cluster),
            ("Change", event.change_id),
            ("Event", event.kind),
            ("Phase", event.phase or "-"),
            ("Purposes", ", ".join(event.purposes) or "-"),
            ("At", utc_text(event.occurred_at)),
        ],
    )


# -- generic webhook ------------------------------------------------------------------------


def webhook_body(msg: Message) -> dict[str, Any]:
    """The generic webhook's JSON body (schema ``ucrenew.notification/v1``)."""
    e = msg.event
    return {
        "schema": SCHEMA,
        "id": e.id,
        "event": e.kind,
        "change_id": e.change_id,
        "cluster": e.cluster,
        "purposes": e.purposes,
        "phase": e.phase,
        "occurred_at": e.occurred_at.isoformat(),
        "title": msg.title,
        "summary": e.summary,
        "asked": e.asked,
        "details": e.details,
        "url": msg.url,
        "url_note": msg.link_note or None,
    }


def encode(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 under ``secret`` of ``<timestamp>.<body>``.

    The timestamp is signed with the body so that a receiver can refuse a replayed request
    (compare it with its clock); the comparison must be constant-time
    (``hmac.compare_digest``).
    """
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


# -- Microsoft Teams ------------------------------------------------------------------------


def teams_payload(msg: Message) -> dict[str, Any]:
    """A message with one Adaptive Card (1.4): headline, summary, what is asked, facts and
    an "Open the renewal" button (or the note saying why there is no link)."""
    e = msg.event
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": msg.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "style": "heading",
        },
        {"type": "TextBlock", "text": e.summary, "wrap": True},
    ]
    if e.asked:
        body.append(
            {
                "type": "TextBlock",
                "text": f"**Asked:** {e.asked}",
                "wrap": True,
                "color": "Attention",
            }
        )
    for line in e.details:
        body.append({"type": "TextBlock", "text": f"- {line}", "wrap": True, "spacing": "None"})
    body.append({"type": "FactSet", "facts": [{"title": n, "value": v} for n, v in msg.facts]})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if msg.url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the renewal", "url": msg.url}]
    else:
        body.append({"type": "TextBlock", "text": msg.link_note, "wrap": True, "isSubtle": True})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


# -- Slack ------------------------------------------------------------------------------------


def _mrkdwn(text: str) -> str:
    # Slack's mrkdwn treats &, < and > as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(msg: Message) -> dict[str, Any]:
    """Block Kit: a header, the summary, what is asked, the facts as fields, a button to the
    renewal page; ``text`` is the notification fallback."""
    e = msg.event
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": msg.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(e.summary)}},
    ]
    if e.asked:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Asked:* {_mrkdwn(e.asked)}"}}
        )
    if e.details:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "\n".join(f"• {_mrkdwn(d)}" for d in e.details)},
            }
        )
    blocks.append(
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{n}:*\n{_mrkdwn(v)}"} for n, v in msg.facts],
        }
    )
    if msg.url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the renewal"},
                        "url": msg.url,
                        "action_id": "open-renewal",
                    }
                ],
            }
        )
    else:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _mrkdwn(msg.link_note)}]}
        )
    fallback = f"{msg.title}: {e.summary}" + (f" Asked: {e.asked}" if e.asked else "")
    return {"text": fallback, "blocks": blocks}


# -- Webex ------------------------------------------------------------------------------------


def webex_markdown(msg: Message) -> str:
    """The message in Webex markdown."""
    e = msg.event
    lines = [f"**{msg.title}**", "", e.summary]
    if e.asked:
        lines += ["", f"**Asked:** {e.asked}"]
    lines += [f"- {d}" for d in e.details]
    lines += ["", " · ".join(f"{n}: {v}" for n, v in msg.facts), ""]
    lines.append(f"[Open the renewal]({msg.url})" if msg.url else f"_{msg.link_note}_")
    return "\n".join(lines)


def webex_payload(
    msg: Message, room_id: str | None = None, to_person_email: str | None = None
) -> dict[str, Any]:
    """A Messages API body (``roomId`` or ``toPersonEmail``, ``markdown`` and the plain
    ``text`` for clients without rich text); without a target, an incoming webhook's body."""
    body: dict[str, Any] = {"markdown": webex_markdown(msg)}
    if room_id:
        body["roomId"] = room_id
    if to_person_email:
        body["toPersonEmail"] = to_person_email
    if room_id or to_person_email:
        body["text"] = msg.text
    return body


# -- e-mail -----------------------------------------------------------------------------------


def email_message(msg: Message, sender: str, recipients: list[str]) -> EmailMessage:
    """A plain-text e-mail; its Message-ID is derived from the event id so that mail
    clients and archives can spot a repeated delivery."""
    mail = EmailMessage()
    mail["Subject"] = msg.title
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(msg.event.occurred_at)
    domain = sender.rpartition("@")[2] or "ucrenew.invalid"
    digest = hashlib.sha256(msg.event.id.encode()).hexdigest()[:32]
    mail["Message-ID"] = f"<{digest}.ucrenew@{domain}>" if domain else make_msgid()
    mail["X-Ucrenew-Event"] = msg.event.kind
    mail["X-Ucrenew-Change"] = msg.event.change_id
    mail.set_content(msg.text + "\n")
    return mail
