"""When each phone last registered, from RisPort70: two looks a while apart show phones that
keep re-registering (CSCup28852: every 7 minutes after a multi-server CallManager
certificate)."""

from __future__ import annotations

from activities.clients.cucm.risport import RisPortClient
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint


async def registration_times(endpoint: NodeEndpoint, auth: BasicAuth) -> dict[str, int]:
    """Registered phones of the cluster and when each registered (RisPort TimeStamp, epoch s).

    Args:
        endpoint: the CUCM node to ask (it answers for every node; usually the publisher).
        auth: the application user with serviceability roles.

    Raises:
        CucmError: RisPort could not be read (throttled after its retries, or unreachable).
    """
    async with RisPortClient(endpoint, auth) as ris:
        records = await ris.select_cm_devices(status="Registered", ext=True)
    return {r.name: r.timestamp for r in records if r.status == "Registered"}
