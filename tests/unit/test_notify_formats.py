"""Notification messages, laid out per channel, and the inventory's notifications block.

Formats checked against the vendors' documentation:

- Microsoft Teams, "Send Adaptive Cards using an Incoming Webhook" (also what a Teams
  Workflows webhook accepts): a ``message`` with one attachment of ``contentType``
  ``application/vnd.microsoft.card.adaptive`` and the card as ``content``,
  https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook
- Slack incoming webhooks with Block Kit: ``blocks`` plus a top-level ``text`` used as the
  notification fallback; a ``header`` block takes ``plain_text`` of at most 150 characters;
  a link button is a ``button`` element with ``url`` in an ``actions`` block,
  https://api.slack.com/messaging/webhooks and https://api.slack.com/reference/block-kit/blocks
- Webex "Create a Message": ``roomId`` or ``toPersonEmail``, ``markdown`` and ``text`` (the
  plain alternative), at most 7,439 bytes,
  https://developer.webex.com/docs/api/v1/messages/create-a-message
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.clients.inventory import InventoryError, load_inventory
from activities.clients.notify.config import (
    NotificationsEntry,
    effective_settings,
    parse_duration,
)
from activities.clients.notify.models import NotificationEvent
from activities.clients.notify.render import (
    compose,
    email_message,
    encode,
    sign,
    slack_payload,
    teams_payload,
    webex_payload,
    webhook_body,
)

EVENT = NotificationEvent(
    id="CHG0031337.notify.run-1.001.approval-needed",
    kind="approval-needed",
    change_id="CHG0031337",
    cluster="cucm-lab",
    purposes=["tomcat", "CallManager"],
    phase="approve-plan",
    occurred_at=datetime(2026, 11, 30, 21, 5, tzinfo=UTC),
    summary="CHG0031337 on cucm-lab waits at the plan approval gate.",
    asked="1 approver(s) from voice-cab, not the requester alice: review and approve.",
    details=["bound to plan hash 0123abcd"],
)
BASE = "https://ucrenew.example.net"
LINK = "https://ucrenew.example.net/renewals/CHG0031337"


def test_every_message_names_cluster_change_event_and_what_is_asked() -> None:
    msg = compose(EVENT, BASE)
    assert msg.url == LINK
    text = msg.text
    for needle in ("cucm-lab", "CHG0031337", "approval-needed", "voice-cab", LINK):
        assert needle in text
    assert msg.title == "[ucrenew] cucm-lab CHG0031337: approval needed"


def test_without_a_base_url_the_message_says_why_there_is_no_link() -> None:
    msg = compose(EVENT, None)
    assert msg.url is None
    assert "UCRENEW_SERVICE_BASE_URL is not set" in msg.text
    assert "/renewals/" not in json.dumps(teams_payload(msg))
    assert "UCRENEW_SERVICE_BASE_URL" in json.dumps(slack_payload(msg))
    assert webhook_body(msg)["url"] is None
    assert "UCRENEW_SERVICE_BASE_URL" in webhook_body(msg)["url_note"]


def test_the_change_id_is_encoded_in_the_link() -> None:
    odd = EVENT.model_copy(update={"change_id": "CHG 1/2"})
    assert compose(odd, BASE + "/").url == "https://ucrenew.example.net/renewals/CHG%201%2F2"


def test_a_campaign_pause_links_the_campaigns_page() -> None:
    """``campaign-paused`` carries the campaign's id as its change: the link is the campaign
    page, the title says what happened."""
    paused = EVENT.model_copy(update={"kind": "campaign-paused", "change_id": "CMP-2026/12"})
    msg = compose(paused, BASE)
    assert msg.url == "https://ucrenew.example.net/campaigns/CMP-2026%2F12"
    assert msg.title.endswith("CMP-2026/12: campaign paused by its stop rule")


def test_webhook_body_follows_the_documented_schema_and_its_signature_verifies() -> None:
    body = webhook_body(compose(EVENT, BASE))
    assert body["schema"] == "ucrenew.notification/v1"
    assert set(body) == {
        "schema", "id", "event", "change_id", "cluster", "purposes", "phase", "occurred_at",
        "title", "summary", "asked", "details", "url", "url_note",
    }  # fmt: skip
    assert body["url"] == LINK and body["event"] == "approval-needed"
    raw = encode(body)
    signature = sign("s3cret", "1764536700", raw)
    expected = hmac.new(b"s3cret", b"1764536700." + raw, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert sign("other", "1764536700", raw) != signature


def test_teams_gets_a_message_with_one_adaptive_card_and_an_open_url_action() -> None:
    payload = teams_payload(compose(EVENT, BASE))
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the renewal", "url": LINK}]
    facts = next(b for b in card["body"] if b["type"] == "FactSet")["facts"]
    assert {"title": "Cluster", "value": "cucm-lab"} in facts
    assert any("voice-cab" in b.get("text", "") for b in card["body"])


def test_slack_gets_block_kit_with_a_fallback_text_and_a_link_button() -> None:
    long = EVENT.model_copy(update={"cluster": "c" * 200, "summary": "a <b> & c"})
    payload = slack_payload(compose(long, BASE))
    assert payload["text"].startswith("[ucrenew]") and "Asked:" in payload["text"]
    header, summary = payload["blocks"][:2]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) <= 150
    assert summary["text"] == {"type": "mrkdwn", "text": "a &lt;b&gt; &amp; c"}
    (button,) = payload["blocks"][-1]["elements"]
    assert button["type"] == "button" and button["url"] == LINK


def test_webex_messages_api_body_targets_a_room_or_a_person_in_markdown() -> None:
    msg = compose(EVENT, BASE)
    room = webex_payload(msg, room_id="Y2lzY29zcGFyazovL3VzL1JPT00vMTIz")
    assert room["roomId"] == "Y2lzY29zcGFyazovL3VzL1JPT00vMTIz"
    assert f"[Open the renewal]({LINK})" in room["markdown"]
    assert "CHG0031337" in room["text"] and len(json.dumps(room).encode()) < 7439
    person = webex_payload(msg, to_person_email="oncall@example.com")
    assert person["toPersonEmail"] == "oncall@example.com" and "roomId" not in person
    assert set(webex_payload(msg)) == {"markdown"}  # an incoming webhook takes markdown only


def test_email_is_plain_text_with_a_message_id_derived_from_the_event() -> None:
    mail = email_message(compose(EVENT, BASE), "ucrenew@example.com", ["voice@example.com"])
    assert mail["Subject"] == "[ucrenew] cucm-lab CHG0031337: approval needed"
    assert mail["To"] == "voice@example.com"
    assert mail["X-Ucrenew-Change"] == "CHG0031337"
    again = email_message(compose(EVENT, BASE), "ucrenew@example.com", ["voice@example.com"])
    assert mail["Message-ID"] == again["Message-ID"]
    assert LINK in mail.get_content()


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("45s", 45.0), ("30m", 1800.0), ("72h", 259200.0), ("3d", 259200.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1h", 0, True, "3w"])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


INVENTORY = """
notifications:
  ca_wait_threshold: 72h
  window_notice: 30m
  channels:
    - name: team-teams
      kind: teams
      url: env:UCRENEW_TEST_TEAMS_URL
      events: [approval-needed, question, failed, done]
    - name: board
      kind: webhook
      url: https://itsm.example.com/hooks/ucrenew
      secret: file:hook.key
clusters:
  - name: lab
    domain: lab.example.com
    publisher: pub.lab.example.com
    nodes: [{fqdn: pub.lab.example.com, role: publisher}]
    credentials:
      os_admin: {username: admin, password: env:X}
      app_user: {username: app, password: env:Y}
  - name: prod
    domain: example.com
    publisher: pub.example.com
    nodes: [{fqdn: pub.example.com, role: publisher}]
    credentials:
      os_admin: {username: admin, password: env:X}
      app_user: {username: app, password: env:Y}
    notifications:
      ca_wait_threshold: 1d
      channels:
        - name: mail
          kind: email
          host: smtp.example.com
          username: ucrenew
          password: env:SMTP_PASSWORD
          sender: ucrenew@example.com
          recipients: [voice@example.com]
          events: [failed]
"""


def test_cluster_blocks_override_the_defaults_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yaml"
    path.write_text(INVENTORY)
    inventory = load_inventory(path)
    lab = inventory.notification_settings("lab")
    assert [c.name for c in lab.channels] == ["team-teams", "board"]
    assert lab.ca_wait_threshold_seconds == 72 * 3600
    assert lab.policy().window_notice_seconds == 1800
    assert lab.routes("ca-wait") == ["board"]
    assert lab.routes("done") == ["team-teams", "board"]
    assert lab.policy().events == list(lab.policy().events)  # every event: board takes all
    assert len(lab.policy().events) == 9  # the renewal events and campaign-paused
    prod = inventory.notification_settings("prod")
    assert [c.name for c in prod.channels] == ["mail"]
    assert prod.ca_wait_threshold_seconds == 86400
    assert prod.policy().events == ["failed"]
    assert prod.delivery_retry_for_seconds == 3600


def test_no_block_means_no_events() -> None:
    assert effective_settings(None, None).policy().events == []


@pytest.mark.parametrize(
    ("channel", "fragment"),
    [
        ("{name: t, kind: teams, url: 'https://x.webhook.office.com/abc'}", "secret reference"),
        ("{name: s, kind: slack}", "url"),
        ("{name: w, kind: webhook, url: 'ftp://x', secret: env:K}", "http:// or https://"),
        ("{name: w, kind: webex, token: env:T}", "exactly one of room_id and to_person_email"),
        ("{name: w, kind: webex, token: env:T, room_id: r, url: env:U}", "not both"),
        ("{name: m, kind: email, host: h, sender: a@b, recipients: []}", "recipients"),
        (
            "{name: m, kind: email, host: h, security: none, username: u, password: env:P, "
            "sender: a@b, recipients: [c@d]}",
            "never sent without TLS",
        ),
        ("{name: x, kind: pager}", "kind"),
        ("{name: t, kind: teams, url: env:U, events: [lunch]}", "events"),
    ],
)
def test_bad_channels_are_refused_with_the_field_never_the_value(
    tmp_path: Path, channel: str, fragment: str
) -> None:
    path = tmp_path / "clusters.yaml"
    path.write_text(
        INVENTORY.split("clusters:")[0].replace("  channels:\n", f"  channels:\n    - {channel}\n")
        + "clusters: []\n"
    )
    with pytest.raises(InventoryError) as refused:
        load_inventory(path)
    message = str(refused.value)
    assert "notifications" in message and fragment in message
    assert "x.webhook.office.com/abc" not in message


def test_channel_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique: a"):
        NotificationsEntry.model_validate(
            {
                "channels": [
                    {"name": "a", "kind": "slack", "url": "env:A"},
                    {"name": "a", "kind": "teams", "url": "env:B"},
                ]
            }
        )
