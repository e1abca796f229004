"""ITSM errors at the activity boundary: type names, retryability, the server's Retry-After."""

from __future__ import annotations

from datetime import timedelta

from activities.clients.itsm.errors import ItsmAuthError, ItsmRecordNotFound, ItsmUnavailable
from activities.errors import translate


def test_unavailable_is_retried_after_what_the_server_asked() -> None:
    app = translate(ItsmUnavailable("servicenow", "503", http_status=503, retry_after=7))
    assert app is not None
    assert app.type == "ItsmUnavailable" and not app.non_retryable
    assert app.next_retry_delay == timedelta(seconds=7)


def test_refusals_are_not_retried() -> None:
    for err in (
        ItsmAuthError("webhook", "401", http_status=401),
        ItsmRecordNotFound("servicenow", "gone"),
    ):
        app = translate(err)
        assert app is not None and app.non_retryable and app.type == type(err).__name__
        assert app.next_retry_delay is None
