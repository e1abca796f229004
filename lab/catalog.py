"""Services of CUCM and IM&P nodes, as Control Center and ``utils service list`` show them.

The names are the ones Cisco's AXL schema enumerates as services (``XService``, cucm-interfaces.md
S28) and VOS ``utils service list`` examples print (S23; the Finesse and VVB CLI references);
``A Cisco DB`` sorts first by design. The groups are the schema's ``XServiceGrouping``. Which
node carries which service, whether it is a network service (always on, ``Deployable`` false)
or a feature service (activated in Service Activation), which feature services a production
cluster has activated, which network services are Commanded Out of Service on subscribers
(a public health checker skips those, S15) and from which release a service exists are [INF]:
they follow how a 12.5/14 cluster is commonly installed, not a published table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

from lab import facts

#: How a service is found on a node after installation and the usual activation: running,
#: activated but Commanded Out of Service, or a feature service nobody activated.
Initial = Literal["started", "stopped", "not-activated"]


@dataclass(frozen=True)
class ServiceDef:
    """A service known to the node's Service Manager.

    Attributes:
        name: The exact Control Center / CLI name.
        group: The Control Center group.
        deployable: True for a feature service (activated per node), False for a network one.
        service_type: ``Service`` or ``Servlet`` (a web application in Cisco Tomcat).
        products: Products whose nodes have the service.
        publisher_only: Only the product's publisher has it.
        min_version: First release (major.minor) that has it.
        on_publisher: How the publisher has it (unless the topology deactivates it).
        on_subscriber: How subscribers have it (unless the topology deactivates it).
    """

    name: str
    group: str
    deployable: bool = True
    service_type: str = "Service"
    products: tuple[str, ...] = ("cucm",)
    publisher_only: bool = False
    min_version: float = 0.0
    on_publisher: Initial = "started"
    on_subscriber: Initial = "started"

    def initial(self, publisher: bool) -> Initial:
        """How a node has the service when the lab starts."""
        return self.on_publisher if publisher else self.on_subscriber


TOMCAT = "Cisco Tomcat"
PAWS = "Platform Administrative Web Service"

_CUCM: tuple[str, ...] = ("cucm",)
_IMP: tuple[str, ...] = ("imp",)
_BOTH: tuple[str, ...] = ("cucm", "imp")

_PLATFORM = "Platform Services"
_MONITORING = "Performance and Monitoring Services"
_BACKUP = "Backup and Restore Services"
_SYSTEM = "System Services"
_CM = "CM Services"
_CDR = "CDR Services"
_CTI = "CTI Services"
_DB_ADMIN = "Database and Admin Services"
_SECURITY = "Security Services"
_IMP_SERVICES = "IM and Presence Services"


def _feature(
    name: str,
    group: str,
    products: tuple[str, ...] = _CUCM,
    *,
    deployable: bool = True,
    servlet: bool = False,
    publisher: Initial = "started",
    subscriber: Initial = "started",
    min_version: float = 0.0,
) -> ServiceDef:
    return ServiceDef(
        name,
        group,
        deployable,
        "Servlet" if servlet else "Service",
        products,
        min_version=min_version,
        on_publisher=publisher,
        on_subscriber=subscriber,
    )


#: A network service: always activated, not deployable.
_network = partial(_feature, deployable=False)

_OFF: Initial = "not-activated"

#: The services ucrenew restarts or checks keep their definitions: names, groups, flags.
_USED_BY_UCRENEW: tuple[ServiceDef, ...] = (
    ServiceDef(TOMCAT, _PLATFORM, False, products=_BOTH),
    ServiceDef(PAWS, _PLATFORM, False, products=_BOTH),
    ServiceDef("Cisco CallManager", _CM),
    ServiceDef("Cisco CTIManager", _CM),
    ServiceDef("Cisco Tftp", _CM),
    ServiceDef("Cisco Trust Verification Service", _SECURITY, False),
    ServiceDef("Cisco HAProxy", _PLATFORM, False, products=_BOTH, min_version=14.0),
    ServiceDef("Cisco XCP Router", _IMP_SERVICES, products=_IMP),
)

_NETWORK: tuple[ServiceDef, ...] = (
    _network("A Cisco DB", _PLATFORM, _BOTH),
    _network("A Cisco DB Replicator", _PLATFORM, _BOTH),
    _network("Platform Communication Web Service", _PLATFORM, _BOTH, servlet=True),
    _network("SNMP Master Agent", _PLATFORM, _BOTH),
    _network("MIB2 Agent", _PLATFORM, _BOTH),
    _network("Host Resources Agent", _PLATFORM, _BOTH),
    _network("Native Agent Adaptor", _PLATFORM, _BOTH),
    _network("System Application Agent", _PLATFORM, _BOTH),
    _network("Cisco CDP Agent", _PLATFORM, _BOTH),
    _network("Cisco Syslog Agent", _PLATFORM, _BOTH),
    _network("Cisco Certificate Expiry Monitor", _PLATFORM, _BOTH),
    _network("Cisco Certificate Change Notification", _PLATFORM, _BOTH),
    _network("Cisco Smart License Manager", _PLATFORM, min_version=12.0),
    _network("Cisco AXL Tomcat", _PLATFORM, min_version=14.0),
    _network("Cisco UDS Tomcat", _PLATFORM, min_version=14.0),
    _network("Cisco SSOSP Tomcat", _PLATFORM, min_version=14.0),
    _network("Cisco RIS Data Collector", _MONITORING, _BOTH),
    _network("Cisco AMC Service", _MONITORING, _BOTH),
    _network("Cisco Audit Event Service", _MONITORING, _BOTH),
    _network("Cisco Log Partition Monitoring Tool", _MONITORING, _BOTH),
    _network("Cisco RTMT Reporter Servlet", _MONITORING, _BOTH, servlet=True),
    _network("Cisco Tomcat Stats Servlet", _MONITORING, _BOTH, servlet=True),
    _network("Cisco CallManager Serviceability RTMT", _MONITORING, servlet=True),
    _network("Cisco DRF Master", _BACKUP, _BOTH, subscriber="stopped"),
    _network("Cisco DRF Local", _BACKUP, _BOTH),
    _network("Cisco CDP", _SYSTEM, _BOTH),
    _network("Cisco Trace Collection Service", _SYSTEM, _BOTH),
    _network("Cisco Trace Collection Servlet", _SYSTEM, _BOTH, servlet=True),
    _network("Cisco CallManager Serviceability", _SYSTEM, servlet=True),
    _network("Cisco Database Layer Monitor", _CM),
    _network("Cisco CallManager Personal Directory", _CM, servlet=True),
    _network("Cisco CallManager Cisco IP Phone Services", _CM, servlet=True),
    _network("Cisco Extension Mobility Application", _CM, servlet=True),
    _network("Cisco User Data Services", _CM, servlet=True),
    _network("Cisco Change Credential Application", _CM, servlet=True),
    _network("Cisco Push Notification Service", _CM, min_version=12.0),
    _network("Cisco Management Agent Service", _CM, min_version=12.0),
    _network("Cisco Device Activation Service", _CM, min_version=12.5),
    _network("Cisco CDR Agent", _CDR),
    _network("Cisco CDR Repository Manager", _CDR, subscriber="stopped"),
    _network("Cisco CAR Scheduler", _CDR, subscriber="stopped"),
    _network("Cisco CAR DB", _CDR, subscriber="stopped"),
    _network("Cisco CallManager Admin", "Admin Services", servlet=True),
    _network("Cisco IM and Presence Admin", "Admin Services", _IMP, servlet=True),
    _network("SOAP -Real-Time Service APIs", "Soap Services", _BOTH, servlet=True),
    _network("SOAP -Performance Monitoring APIs", "Soap Services", _BOTH, servlet=True),
    _network("SOAP -Log Collection APIs", "Soap Services", _BOTH, servlet=True),
    _network("SOAP -Diagnostic Portal Database Service", "Soap Services", _BOTH, servlet=True),
    _network("Cisco Client Profile Agent", _IMP_SERVICES, _IMP),
    _network("Cisco Config Agent", _IMP_SERVICES, _IMP),
    _network("Cisco Intercluster Sync Agent", _IMP_SERVICES, _IMP),
    _network("Cisco Sync Agent", _IMP_SERVICES, _IMP, subscriber="stopped"),
    _network("Cisco Login Datastore", _IMP_SERVICES, _IMP),
    _network("Cisco Route Datastore", _IMP_SERVICES, _IMP),
    _network("Cisco Presence Datastore", _IMP_SERVICES, _IMP),
    _network("Cisco SIP Registration Datastore", _IMP_SERVICES, _IMP),
    _network("Cisco Server Recovery Manager", _IMP_SERVICES, _IMP),
    _network("Cisco XCP Config Manager", _IMP_SERVICES, _IMP),
    _network("Cisco OAM Agent", _IMP_SERVICES, _IMP),
    _network("Cisco IM and Presence Data Monitor", _IMP_SERVICES, _IMP),
)

_FEATURES: tuple[ServiceDef, ...] = (
    _feature("Cisco IP Voice Media Streaming App", _CM),
    _feature("Cisco Extension Mobility", _CM),
    _feature("Cisco Location Bandwidth Manager", _CM),
    _feature("Cisco Intercluster Lookup Service", _CM, subscriber="stopped"),
    _feature("Cisco Dialed Number Analyzer Server", _CM, subscriber=_OFF),
    _feature("Cisco Dialed Number Analyzer", _CM, servlet=True, subscriber=_OFF),
    _feature("Cisco Extended Functions", _CM, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco DHCP Monitor Service", _CM, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco Messaging Interface", _CM, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco Unified Mobile Voice Access Service", _CM, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco Directory Number Alias Sync", _CM, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco Directory Number Alias Lookup", _CM, publisher=_OFF, subscriber=_OFF),
    _feature("Self Provisioning IVR", _CM, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco Headset Service", _CM, publisher=_OFF, subscriber=_OFF, min_version=12.5),
    _feature("Cisco IP Manager Assistant", _CTI, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco WebDialer Web Service", _CTI, servlet=True, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco SOAP - CDRonDemand Service", _CDR, servlet=True, subscriber=_OFF),
    _feature("Cisco CAR Web Service", _CDR, servlet=True, subscriber=_OFF),
    # The AXL developer guide for 11.0: "AXL service is now enabled by default on all nodes
    # (Publisher and Subscribers.)". Before 11.0 the lab serves AXL on the publisher only.
    _feature("Cisco AXL Web Service", _DB_ADMIN),
    _feature("Cisco UXL Web Service", _DB_ADMIN, servlet=True),
    _feature("Cisco Bulk Provisioning Service", _DB_ADMIN, subscriber=_OFF),
    _feature("Cisco TAPS Service", _DB_ADMIN, publisher=_OFF, subscriber=_OFF),
    _feature("Cisco Serviceability Reporter", _MONITORING, _BOTH, subscriber=_OFF),
    _feature("Cisco CallManager SNMP Service", _MONITORING),
    _feature("Cisco CTL Provider", _SECURITY),
    _feature("Cisco Certificate Authority Proxy Function", _SECURITY, subscriber=_OFF),
    _feature("Cisco Certificate Enrollment Service", _SECURITY, publisher=_OFF, subscriber=_OFF),
    ServiceDef(
        "Cisco DirSync", "Directory Services", publisher_only=True, on_publisher="not-activated"
    ),
    _feature(
        "Cisco Wireless Controller Synchronization Service",
        "Location based Tracking Services",
        publisher=_OFF,
        subscriber=_OFF,
        min_version=12.5,
    ),
    _feature("Cisco AXL Web Service", _DB_ADMIN, _IMP),
    _feature("Cisco SIP Proxy", _IMP_SERVICES, _IMP),
    _feature("Cisco Presence Engine", _IMP_SERVICES, _IMP),
    _feature("Cisco XCP Connection Manager", _IMP_SERVICES, _IMP),
    _feature("Cisco XCP Web Connection Manager", _IMP_SERVICES, _IMP),
    _feature("Cisco XCP Authentication Service", _IMP_SERVICES, _IMP),
    *(
        _feature(f"Cisco XCP {name}", _IMP_SERVICES, _IMP, publisher=_OFF, subscriber=_OFF)
        for name in (
            "Text Conference Manager",
            "File Transfer Manager",
            "Message Archiver",
            "Directory Service",
            "SIP Federation Connection Manager",
            "XMPP Federation Connection Manager",
        )
    ),
)

SERVICES: tuple[ServiceDef, ...] = _USED_BY_UCRENEW + _NETWORK + _FEATURES

#: Which service activates a newly installed identity certificate, per purpose.
ACTIVATING_SERVICE = {
    "tomcat": TOMCAT,
    "tomcat-ECDSA": TOMCAT,
    "CallManager": "Cisco CallManager",
    "CallManager-ECDSA": facts.CALLMANAGER_ECDSA_ACTIVATED_BY,
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
#: ECDSA identity purposes each product carries from ``facts.ECDSA_IDENTITIES_SINCE`` on.
ECDSA_PURPOSES_BY_PRODUCT = {
    "cucm": ("tomcat-ECDSA", "CallManager-ECDSA"),
    "imp": ("tomcat-ECDSA",),
}


def identity_purposes(product: str, version: float) -> tuple[str, ...]:
    """The identity purposes a node of ``product`` has on ``version`` (major.minor)."""
    ecdsa = ECDSA_PURPOSES_BY_PRODUCT[product] if version >= facts.ECDSA_IDENTITIES_SINCE else ()
    return PURPOSES_BY_PRODUCT[product] + ecdsa


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


def service_names(product: str) -> frozenset[str]:
    """Every service name a node of ``product`` can have (any role, any release)."""
    return frozenset(s.name for s in SERVICES if product in s.products)


def services_for(product: str, publisher: bool, version: float) -> list[ServiceDef]:
    """The services a node of ``product`` has on ``version`` (major.minor, e.g. 14.0)."""
    return [
        s
        for s in SERVICES
        if product in s.products
        and (publisher or not s.publisher_only)
        and version >= s.min_version
    ]
