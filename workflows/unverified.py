"""The unverified CUCM behaviours a plan depends on, named by the constant that holds each.

Every behaviour of CUCM that no published source confirms is one ``[INF]`` constant in
``activities/clients/cucm/inferred.py``. A plan whose safety or impact rests on one says so
(``ucrenew plan``, its ``--json`` and the dashboard's plan), so that whoever approves it knows
what to check on a lab cluster first. Pure: the plan, the release and the purposes decide.
"""

from __future__ import annotations

from collections.abc import Sequence

from activities.catalog import CALLMANAGER, HAPROXY, TOMCAT, Purpose, parse_version
from activities.clients.cucm import inferred
from workflows.models import UnverifiedBehaviour
from workflows.restart_models import RestartPlan

_INFERRED = "activities.clients.cucm.inferred."


def _fact(name: str, behaviour: str) -> UnverifiedBehaviour:
    # getattr: a renamed constant fails here, in the tests, not silently in a plan.
    getattr(inferred, name)
    return UnverifiedBehaviour(constant=_INFERRED + name, behaviour=behaviour)


def unverified_behaviours(
    restarts: RestartPlan | None, version: str, purposes: Sequence[Purpose]
) -> list[UnverifiedBehaviour]:
    """The ``[INF]`` facts the restart plan of a change relies on, in a stable order.

    Args:
        restarts: the change's restart plan (None: nothing restarts).
        version: the cluster's release (``12.5.1.14900-63``).
        purposes: the purposes of the change.

    Returns:
        One entry per unverified behaviour the plan depends on; empty when it depends on none.
    """
    if restarts is None:
        return []
    out: list[UnverifiedBehaviour] = []
    parts = parse_version(version)
    major = parts[0] if parts else 0
    services = {s for w in restarts.waves for nr in w.nodes for s in nr.services}
    callmanager = "CallManager" in purposes
    by_primary = any(s.kind == "phone-resets" and s.nodes for s in restarts.stages)
    if callmanager and major < 14 and by_primary:
        out.append(
            _fact(
                "NO_AUTOMATIC_PHONE_RESET_BEFORE_14",
                "CUCM before 14 does not reset the phones by itself once the new CallManager "
                "certificate is served: ucrenew resets each node's phones just before that "
                "node's CallManager stops. If CUCM did reset them earlier, phones not yet "
                "reset by ucrenew would reset twice and their SIP ones fail over as before",
            )
        )
    elif callmanager and major < 14 and not restarts.reset_phones:
        out.append(
            _fact(
                "NO_AUTOMATIC_PHONE_RESET_BEFORE_14",
                "the phone resets are left to CUCM, which before 14 may not reset the phones "
                "by itself: phones keep the old ITL until reset (Cisco's procedure resets "
                "them, e.g. all SEP* devices, after the restarts)",
            )
        )
    if callmanager and HAPROXY in services and CALLMANAGER not in services:
        out.append(
            _fact(
                "CALLMANAGER_HAPROXY_ONLY_BUILD",
                "from 14SU1 a CA-signed RSA CallManager certificate is activated by restarting "
                "Cisco HAProxy alone (Cisco documents it for regeneration): no Cisco "
                "CallManager restarts, so no phone re-registers. If the upload needs more, "
                "the old certificate stays served until CallManager restarts",
            )
        )
    imp_waves = [
        w
        for w in restarts.waves
        if len(w.nodes) > 1
        and any(nr.product == "imp" for nr in w.nodes)
        and all(TOMCAT in nr.services for nr in w.nodes)
    ]
    if imp_waves:
        out.append(
            _fact(
                "IMP_NODES_PER_TOMCAT_WAVE",
                f"at most {inferred.IMP_NODES_PER_TOMCAT_WAVE} IM&P node restarts Cisco Tomcat "
                "in a wave with other nodes, so every presence redundancy group keeps a node "
                "serving whatever its pairing",
            )
        )
    if (
        "tomcat-ECDSA" in purposes
        and major == 14
        and services & {"Cisco DRF Master", "Cisco DRF Local"}
    ):
        out.append(
            _fact(
                "TOMCAT_ECDSA_DRF_BUILD",
                "from 14SU2 a tomcat-ECDSA certificate also needs Cisco DRF Master (publisher) "
                "and Cisco DRF Local (every node) restarted",
            )
        )
    return out
