"""Services of CUCM and IM&P nodes, as Control Center and ``utils service list`` show them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceDef:
    """A service known to the node's Service Manager."""

    name: str
    group: str
    deployable: bool = True
    service_type: str = "Service"
    #: products whose nodes have the service (activated unless the topology deactivates it)
    products: tuple[str, ...] = ("cucm",)
    publisher_only: bool = False
    #: from this release on every node, publisher_only or not
    every_node_since: float = float("inf")
    min_version: float = 0.0


TOMCAT = "Cisco Tomcat"
PAWS = "Platform Administrative Web Service"

SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef(TOMCAT, "Platform Services", False, products=("cucm", "imp")),
    ServiceDef(PAWS, "Platform Services", False, products=("cucm", "imp")),
    ServiceDef("Cisco DB", "Database and Admin Services", False, products=("cucm", "imp")),
    ServiceDef(
        "Cisco DB Replicator", "Database and Admin Services", False, products=("cucm", "imp")
    ),
    ServiceDef("Cisco CallManager", "CM Services"),
    ServiceDef("Cisco CTIManager", "CM Services"),
    ServiceDef("Cisco Tftp", "CM Services"),
    ServiceDef("Cisco Trust Verification Service", "Security Services", False),
    ServiceDef(
        "Cisco Certificate Authority Proxy Function", "Security Services", publisher_only=True
    ),
    # The AXL developer guide for 11.0: "AXL service is now enabled by default on all nodes".
    ServiceDef(
        "Cisco AXL Web Service",
        "Database and Admin Services",
        publisher_only=True,
        every_node_since=11.0,
    ),
    ServiceDef(
        "Cisco RIS Data Collector",
        "Performance and Monitoring Services",
        False,
        products=("cucm", "imp"),
    ),
    ServiceDef(
        "Cisco DRF Master",
        "Backup and Restore Services",
        False,
        products=("cucm", "imp"),
        publisher_only=True,
    ),
    ServiceDef("Cisco DRF Local", "Backup and Restore Services", False, products=("cucm", "imp")),
    ServiceDef(
        "Cisco Certificate Expiry Monitor", "Platform Services", False, products=("cucm", "imp")
    ),
    ServiceDef(
        "Cisco HAProxy", "Platform Services", False, products=("cucm", "imp"), min_version=14.0
    ),
    ServiceDef("Cisco AXL Tomcat", "Platform Services", False, min_version=14.0),
    ServiceDef("Cisco UDS Tomcat", "Platform Services", False, min_version=14.0),
    ServiceDef("Cisco SSOSP Tomcat", "Platform Services", False, min_version=14.0),
    ServiceDef("Cisco XCP Router", "IM and Presence Services", products=("imp",)),
    ServiceDef("Cisco XCP Connection Manager", "IM and Presence Services", products=("imp",)),
    ServiceDef("Cisco Presence Engine", "IM and Presence Services", products=("imp",)),
    ServiceDef("Cisco SIP Proxy", "IM and Presence Services", products=("imp",)),
    ServiceDef("Cisco DirSync", "Directory Services", products=("cucm",), publisher_only=True),
)

#: Services present but not activated by default (``[STOPPED]  Service Not Activated``).
NOT_ACTIVATED_BY_DEFAULT = frozenset({"Cisco DirSync"})

#: Which service activates a newly installed identity certificate, per purpose.
ACTIVATING_SERVICE = {
    "tomcat": TOMCAT,
    "tomcat-ECDSA": TOMCAT,
    "CallManager": "Cisco CallManager",
    "cup-xmpp": "Cisco XCP Router",
    "cup-xmpp-s2s": "Cisco XCP Router",
}

#: From 14 the RSA CallManager certificate is served through Cisco HAProxy, whose restart
#: activates it; on 12.5 and earlier Cisco CallManager's restart does (cucm-interfaces.md §10).
ACTIVATING_SERVICE_SINCE_14 = {"CallManager": "Cisco HAProxy"}


def activating_services(version: float) -> dict[str, str]:
    """Which service activates a newly installed identity certificate, per purpose, on
    ``version`` (the major.minor of the cluster, e.g. 12.5 or 14.0)."""
    table = dict(ACTIVATING_SERVICE)
    if version >= 14.0:
        table.update(ACTIVATING_SERVICE_SINCE_14)
    return table


#: Identity purposes each product carries, and which nodes a multi-server CSR covers.
PURPOSES_BY_PRODUCT = {
    "cucm": ("tomcat", "CallManager"),
    "imp": ("tomcat", "cup-xmpp", "cup-xmpp-s2s"),
}
#: Products whose nodes a multi-server SAN of the purpose lists (cucm-interfaces.md §1.3).
SAN_PRODUCTS = {
    "tomcat": ("cucm", "imp"),
    "tomcat-ECDSA": ("cucm", "imp"),
    "CallManager": ("cucm",),
    "CallManager-ECDSA": ("cucm",),
    "cup-xmpp": ("imp",),
    "cup-xmpp-s2s": ("imp",),
}
#: The trust store an identity purpose chains to.
TRUST_STORE = {
    "tomcat": "tomcat-trust",
    "tomcat-ECDSA": "tomcat-trust",
    "CallManager": "CallManager-trust",
    "CallManager-ECDSA": "CallManager-trust",
    "cup-xmpp": "cup-xmpp-trust",
    "cup-xmpp-s2s": "cup-xmpp-trust",
}
TRUST_STORES = (
    "tomcat-trust",
    "CallManager-trust",
    "cup-xmpp-trust",
    "CAPF-trust",
    "Phone-SAST-trust",
    "TVS-trust",
    "ipsec-trust",
)


def services_for(product: str, publisher: bool, version: float) -> list[ServiceDef]:
    """The services a node of ``product`` has."""
    return [
        s
        for s in SERVICES
        if product in s.products
        and (publisher or not s.publisher_only or version >= s.every_node_since)
        and version >= s.min_version
    ]
