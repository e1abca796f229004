"""SAML SSO on the CUCM publisher, switched off for the renewal and read back.

Tomcat's new certificate breaks an enabled SSO, so the renewal disables it first. The CLI may
drop the session while ``utils sso disable`` runs: :func:`disable_sso` then does not guess but
asks ``utils sso status`` again in a new session.
"""

from __future__ import annotations

import logging

from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.errors import CucmResponseLost
from activities.clients.cucm.identity import confirm_in_session
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint
from activities.cluster_models import SsoResult

logger = logging.getLogger(__name__)


async def disable_sso(endpoint: NodeEndpoint, auth: BasicAuth) -> SsoResult:
    """``utils sso disable`` when SSO is enabled, then ``utils sso status`` once more.

    Args:
        endpoint: The CUCM publisher.
        auth: The OS platform admin.

    Returns:
        The state before and after; ``enabled`` is what the read-back found, so True means
        the disable did not take.

    Raises:
        CucmWrongNode: Another node answers at the publisher's address (nothing was done).
    """
    async with CucmCli(endpoint, auth) as shell:
        await confirm_in_session(shell)  # SSO is disabled cluster-wide: only on the publisher
        before = await shell.sso_status()
        if before.enabled:
            try:
                await shell.sso_disable()
            except CucmResponseLost:
                logger.warning("sso disable: response lost, reading back")
    async with CucmCli(endpoint, auth) as shell:
        after = await shell.sso_status()
    if after.enabled:
        detail = "SSO is still enabled after utils sso disable"
    elif before.enabled:
        detail = "disabled SAML SSO"
    else:
        detail = "SSO was already disabled"
    return SsoResult(
        was_enabled=before.enabled,
        enabled=after.enabled,
        changed=before.enabled and not after.enabled,
        detail=detail,
    )
