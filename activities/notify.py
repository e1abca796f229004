"""Notification activities: which channels get an event, and one delivery to one channel.

The inventory is read at each call, so a channel fixed in ``clusters.yaml`` (a rotated
webhook URL, a new recipient) applies to the next attempt. A delivery that cannot succeed
(a 4xx, a channel removed from the inventory, an unresolvable secret) fails non-retryable;
one that may succeed later (5xx, 429, timeout, connection refused) is retried by the
notification workflow's policy, honouring ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.clients.inventory import InventoryError, load_inventory_async
from activities.clients.notify.deliver import NotifyError, deliver
from activities.clients.notify.models import (
    DeliveryRequest,
    DeliveryResult,
    NotificationRoutes,
    RoutesRequest,
)
from activities.clients.notify.render import compose
from activities.errors import translated

log = logging.getLogger("ucrenew.notify")

#: How long ``ucrenew notify-test`` lets a failing channel be retried.
TEST_RETRY_FOR_SECONDS = 30.0


class NotifyActivities:
    """Look up a cluster's channels and deliver to them.

    Args:
        inventory_loader: Returns the inventory path (read at each call).
        base_url: The ucrenew service's base URL (``UCRENEW_SERVICE_BASE_URL``), from which
            messages link ``/renewals/<change>``; None: messages say there is no link.
        transport: An httpx transport for the webhooks (tests); the default otherwise.
    """

    def __init__(
        self,
        inventory_loader: Callable[[], Path],
        base_url: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._inventory_path = inventory_loader
        self._base_url = base_url
        self._transport = transport

    @activity.defn(name="notification_routes")
    @translated
    async def notification_routes(self, req: RoutesRequest) -> NotificationRoutes:
        """The channels of ``req.cluster`` that get ``req.kind``, and how long to retry."""
        inventory = await load_inventory_async(self._inventory_path())
        settings = inventory.notification_settings(req.cluster)
        channels = settings.routes(req.kind)
        if req.channel is not None:
            if settings.channel(req.channel) is None:
                known = ", ".join(c.name for c in settings.channels) or "none"
                raise InventoryError(
                    f"cluster {req.cluster} has no notification channel {req.channel!r} "
                    f"(known: {known})"
                )
            channels = [req.channel]
        retry_for = settings.delivery_retry_for_seconds
        if req.kind == "test":
            # Someone waits at the command line: a test tells quickly what does not work.
            retry_for = min(retry_for, TEST_RETRY_FOR_SECONDS)
        return NotificationRoutes(channels=channels, retry_for_seconds=retry_for)

    @activity.defn(name="deliver_notification")
    @translated
    async def deliver_notification(self, req: DeliveryRequest) -> DeliveryResult:
        """Send the event to one channel; NotificationRefused (final) or
        NotificationUndelivered (retried) when it does not arrive."""
        inventory = await load_inventory_async(self._inventory_path())
        settings = inventory.notification_settings(req.event.cluster)
        channel = settings.channel(req.channel)
        if channel is None:
            raise ApplicationError(
                f"channel {req.channel} is no longer in the notifications of cluster "
                f"{req.event.cluster}",
                type="NotificationRefused",
                non_retryable=True,
            )
        msg = compose(req.event, self._base_url)
        try:
            detail = await deliver(channel, msg, inventory.secret, transport=self._transport)
        except NotifyError as exc:
            attempt = activity.info().attempt
            log.warning("notification %s (attempt %d): %s", req.event.id, attempt, exc)
            raise ApplicationError(
                str(exc),
                type="NotificationRefused" if exc.permanent else "NotificationUndelivered",
                non_retryable=exc.permanent,
                next_retry_delay=(
                    timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
                ),
            ) from None
        log.info(
            "notification %s %s sent to %s: %s", req.event.kind, req.event.id, channel.name, detail
        )
        return DeliveryResult(channel=channel.name, detail=detail)
