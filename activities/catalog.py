"""What ucrenew knows of CUCM's certificate purposes and services: one table, used everywhere.

A purpose is a certificate CUCM or IM&P serves (cucm-interfaces.md §1.1). Per purpose: the
nodes its multi-server certificate names, the publisher its CSR is generated and uploaded on,
its trust store, the listener that serves it (where verification looks), whether activating it
touches phones or IM users, and the services that activate it on a node of a given release
(§10). The CSR, upload, restart planner, verification, ``ucrenew plan`` and the workflow all
read it from here. The ECDSA purposes of 14 and later (``tomcat-ECDSA``, ``CallManager-ECDSA``)
are entries like the others, with an EC key and a first release.

Pure data and functions, no I/O: workflows import it through the sandbox like the models.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from activities.clients.cucm import inferred

Purpose = Literal[
    "tomcat", "CallManager", "cup-xmpp", "cup-xmpp-s2s", "tomcat-ECDSA", "CallManager-ECDSA"
]
Product = Literal["cucm", "imp"]
KeyType = Literal["RSA", "ECDSA"]
Listener = Literal["https", "sip_tls", "xmpp_c2s", "xmpp_s2s"]

# -- services (exact Control Center names) ---------------------------------------------------
TOMCAT = "Cisco Tomcat"
CALLMANAGER = "Cisco CallManager"
CTIMANAGER = "Cisco CTIManager"
TFTP = "Cisco Tftp"
TVS = "Cisco Trust Verification Service"
HAPROXY = "Cisco HAProxy"
XCP_ROUTER = "Cisco XCP Router"
PAWS = "Platform Administrative Web Service"
DRF_MASTER = "Cisco DRF Master"
DRF_LOCAL = "Cisco DRF Local"

#: Services discovery reports; preflight needs PAWS and Tomcat Started on every node.
WATCHED_SERVICES: tuple[str, ...] = (
    PAWS,
    TOMCAT,
    CALLMANAGER,
    TFTP,
    XCP_ROUTER,
    CTIMANAGER,
    TVS,
    HAPROXY,
)

#: Trust stores a deletion empties on every node at once (cucm-interfaces.md §1.2, [DOC S3]);
#: in the others a certificate is deleted node by node.
CLUSTER_WIDE_TRUST_DELETE = frozenset(
    {"tomcat-trust", "CallManager-trust", "CAPF-trust", "Phone-SAST-trust"}
)

#: EC key lengths CUCM offers for a CSR (cucm-interfaces.md §1.2), the default first.
EC_KEY_LENGTHS: tuple[int, ...] = (256, 384)

#: RSA key lengths ucrenew asks CUCM for in a CSR (§1.2), the default first. CUCM also offers
#: the ones of :data:`REFUSED_RSA_KEY_LENGTHS`.
RSA_KEY_LENGTHS: tuple[int, ...] = (2048, 3072, 4096)

#: RSA key lengths CUCM offers that ucrenew refuses, with the reason.
REFUSED_RSA_KEY_LENGTHS: dict[int, str] = {
    1024: "a 1024-bit RSA key gives about 80 bits of security: NIST disallows it for "
    "signatures since 2013 and public and enterprise CAs refuse to sign it",
}

#: Hash algorithms CUCM offers for a CSR (§1.2), the default first.
HASH_ALGORITHMS: tuple[str, ...] = ("sha256", "sha384", "sha512")

#: Security strength in bits (NIST SP 800-57 part 1, table 2; RSA 4096 is below 7680's 192).
_KEY_STRENGTH: dict[tuple[str, int], int] = {
    ("rsa", 1024): 80,
    ("rsa", 2048): 112,
    ("rsa", 3072): 128,
    ("rsa", 4096): 128,
    ("ec", 256): 128,
    ("ec", 384): 192,
}
_HASH_STRENGTH: dict[str, int] = {"sha256": 128, "sha384": 192, "sha512": 256}

#: Purposes whose RSA key above 2048 bits some phones cannot handle (§1.2).
LARGE_RSA_KEY_RISK: frozenset[str] = frozenset({"CallManager"})


def hashes_for_key(key_type: Literal["rsa", "ec"], key_length: int) -> tuple[str, ...]:
    """The hash algorithms CUCM lets a CSR with this key use: at least as strong as the key.

    Args:
        key_type: ``rsa`` or ``ec``.
        key_length: Bits of the key.

    Returns:
        The allowed algorithms, weakest first (all of them for a key ucrenew does not know).
    """
    strength = _KEY_STRENGTH.get((key_type, key_length), 0)
    return tuple(h for h in HASH_ALGORITHMS if _HASH_STRENGTH[h] >= strength)


#: CSCup28852: phones reset this often (seconds) after a multi-server CallManager certificate
#: (tech note 118731: "every 7 minutes").
CSCUP28852_PERIOD_SECONDS = 420.0

#: Network services run on every node of their product whether listed as activated or not.
NETWORK_SERVICES = frozenset({TOMCAT, HAPROXY, XCP_ROUTER, DRF_LOCAL})

#: Services that run on the CUCM publisher only: a restart of one is planned there alone
#: (tech note 221070: DRF Master on the publisher, DRF Local on every node).
CUCM_PUBLISHER_SERVICES = frozenset({DRF_MASTER})

_VERSION_PART = re.compile(r"\d+")


def parse_version(version: str) -> tuple[int, ...]:
    """Numeric parts of a CUCM version before the build suffix: ``14.0.1.13900-155`` → 14,0,1,13900.

    Args:
        version: the version string a node reports.

    Returns:
        The dot-separated numbers, as many as present.
    """
    return tuple(int(p) for p in _VERSION_PART.findall(version.split("-", 1)[0]))


def callmanager_services(version: str, key: str = "RSA") -> tuple[str, ...]:
    """Services that activate a new CallManager certificate on a CUCM node of ``version``.

    ≤12.5: CallManager, CTIManager, TVS and TFTP. 14 before SU1: CallManager, CTIManager and
    HAProxy. 14SU1 and later: HAProxy for RSA, CallManager and HAProxy for ECDSA. A 14 version
    without a build number is treated as 14 before SU1: restarting more is safe, restarting
    less would leave the old certificate served.

    Args:
        version: the node's version.
        key: ``RSA`` or ``ECDSA``.
    """
    parts = parse_version(version)
    major = parts[0] if parts else 0
    if major < 14:
        return (CALLMANAGER, CTIMANAGER, TVS, TFTP)
    if major == 14 and (len(parts) < 4 or parts[3] < inferred.CALLMANAGER_HAPROXY_ONLY_BUILD):
        return (CALLMANAGER, CTIMANAGER, HAPROXY)
    if key == "ECDSA":
        return (CALLMANAGER, HAPROXY)
    return (HAPROXY,)


def tomcat_ecdsa_services(version: str, _key: str = "ECDSA") -> tuple[str, ...]:
    """Services that activate a new tomcat-ECDSA certificate on a node of ``version``.

    Cisco Tomcat everywhere; from 14SU2 on also the DRF restart the 14SU2 Security Guide
    documents for tomcat-ECDSA (§10), taken as tech note 221070's DRF Master (CUCM
    publisher) and DRF Local (every node) [INF: which DRF services, and from which build:
    ``inferred.TOMCAT_ECDSA_DRF_BUILD``]. A 14 version without a build number is
    treated as 14SU2 and later: restarting more is safe.
    """
    parts = parse_version(version)
    if parts[:1] == (14,) and len(parts) >= 4 and parts[3] < inferred.TOMCAT_ECDSA_DRF_BUILD:
        return (TOMCAT,)
    return (TOMCAT, DRF_MASTER, DRF_LOCAL)


@dataclass(frozen=True)
class PurposeSpec:
    """One certificate purpose and what renewing it implies.

    Attributes:
        name: the purpose as CUCM names it.
        san_products: products whose nodes the multi-server certificate names (§1.3).
        csr_product: the product whose publisher generates the CSR and takes the upload.
        listener: the listener that serves the certificate, where verification looks.
        verify_label: that listener, for people.
        phone_impact: activating it restarts services phones or IM users depend on, so it
            needs an impact approval and a maintenance window.
        disables_sso: SAML SSO must be off while the certificate changes (the IdP trusts the
            tomcat certificate: a change with SSO on locks admins out).
        activation: the services that make a new certificate active on a node of a release.
        key_type: the key of its certificate: ``RSA``, or ``ECDSA`` (an EC key; the listener
            serves it only to a client that offers ECDSA alone).
        min_release: the first release that has the purpose, e.g. (14, 0); () for all.
    """

    name: Purpose
    san_products: tuple[Product, ...]
    csr_product: Product
    listener: Listener
    verify_label: str
    phone_impact: bool
    disables_sso: bool
    activation: Callable[[str, str], tuple[str, ...]]
    key_type: KeyType = "RSA"
    min_release: tuple[int, ...] = ()

    @property
    def trust_store(self) -> str:
        """The trust store its CA certificates go to, e.g. ``tomcat-trust``.

        An ECDSA purpose shares its RSA twin's (cucm-interfaces.md §1.1). cup-xmpp-s2s has
        none of its own: its CAs (and federation peers') go to ``cup-xmpp-trust`` (§1.1,
        IM&P federation guide).
        """
        base = self.name.removesuffix("-ECDSA")
        return "cup-xmpp-trust" if base == "cup-xmpp-s2s" else f"{base}-trust"

    @property
    def trust_service(self) -> str:
        """The service a trust upload or listing names for that store: an ECDSA purpose's
        RSA twin (there is no ``tomcat-ECDSA-trust``, §1.1), the purpose itself otherwise."""
        return self.name.removesuffix("-ECDSA")

    @property
    def csr_key_type(self) -> Literal["rsa", "ec"]:
        """The ``keyType`` of its CSR (certmgr REST, §2.2)."""
        return "ec" if self.key_type == "ECDSA" else "rsa"

    def available_on(self, version: str) -> bool:
        """Whether a node of ``version`` has the purpose (False for an unreadable version
        when the purpose needs a release)."""
        if not self.min_release:
            return True
        parts = parse_version(version)
        return bool(parts) and parts >= self.min_release

    def restart_services(self, product: str, version: str, key: str = "RSA") -> tuple[str, ...]:
        """Services to restart on a node of ``product`` and ``version``; none off the SAN or
        on a release without the purpose. An ECDSA purpose always restarts for its EC key."""
        if product not in self.san_products or not self.available_on(version):
            return ()
        return self.activation(version, "ECDSA" if self.key_type == "ECDSA" else key)


def _tomcat(_version: str, _key: str) -> tuple[str, ...]:
    return (TOMCAT,)


def _xcp(_version: str, _key: str) -> tuple[str, ...]:
    return (XCP_ROUTER,)


_cm = callmanager_services
_tomcat_ec = tomcat_ecdsa_services


_P = PurposeSpec
PURPOSES: dict[Purpose, PurposeSpec] = {
    spec.name: spec
    for spec in (
        # name, SAN products, CSR on, listener, verified on, phone impact, SSO off, activation
        _P("tomcat", ("cucm", "imp"), "cucm", "https", "HTTPS 8443", False, True, _tomcat),
        _P("CallManager", ("cucm",), "cucm", "sip_tls", "SIP TLS 5061", True, False, _cm),
        _P("cup-xmpp", ("imp",), "imp", "xmpp_c2s", "XMPP 5222 (STARTTLS)", True, False, _xcp),
        _P("cup-xmpp-s2s", ("imp",), "imp", "xmpp_s2s", "XMPP 5269 (STARTTLS)", True, False, _xcp),
        # ECDSA (14+): the same listeners, verified through a handshake that offers ECDSA only.
        _P(
            "tomcat-ECDSA",
            ("cucm", "imp"),
            "cucm",
            "https",
            "HTTPS 8443 (ECDSA-only handshake)",
            False,
            True,
            _tomcat_ec,
            "ECDSA",
            (14, 0),
        ),
        _P(
            "CallManager-ECDSA",
            ("cucm",),
            "cucm",
            "sip_tls",
            "SIP TLS 5061 (ECDSA-only handshake)",
            True,
            False,
            _cm,
            "ECDSA",
            (14, 0),
        ),
    )
}


def purpose(name: str) -> PurposeSpec:
    """The catalog entry of a purpose; KeyError names the purposes ucrenew knows."""
    try:
        return PURPOSES[name]  # type: ignore[index]
    except KeyError:
        raise KeyError(f"unknown purpose {name!r}: one of {', '.join(PURPOSES)}") from None


def release_problem(name: str, version: str | None) -> str | None:
    """Why a cluster of ``version`` cannot renew purpose ``name``; None when it can.

    Args:
        name: a purpose of the catalog.
        version: the cluster's version; None when discovery could not read it.
    """
    spec = purpose(name)
    if spec.available_on(version or ""):
        return None
    first = ".".join(str(p) for p in spec.min_release)
    twin = name.removesuffix("-ECDSA")
    if version is None:
        return f"{name} exists on CUCM {first} and later; the cluster's version is unknown"
    return (
        f"{name} exists on CUCM {first} and later; this cluster runs {version}: renew "
        f"{twin} instead, or upgrade first"
    )


def phone_impact(purposes: Iterable[str]) -> bool:
    """Whether any of ``purposes`` restarts services phones or IM users depend on."""
    return any(purpose(p).phone_impact for p in purposes)


# -- What users lose while a node's Cisco Tomcat restarts ------------------------------------
WEB_ADMIN = "web administration and Serviceability (open sessions end)"
AXL_API = "AXL"
UDS_JABBER = "UDS: Jabber sign-in and directory search"
PHONE_HTTPS = "phone HTTPS services and Extension Mobility"
DRF_BACKUP = "DRF backup and restore"
IMP_ADMIN = "IM&P administration and Serviceability (open sessions end)"
IMP_JABBER = "Jabber sign-in of the users homed here (open IM sessions stay)"


def tomcat_restart_losses(product: str, role: str, version: str) -> tuple[str, ...]:
    """What users of one node cannot use while its Cisco Tomcat restarts (minutes, §13).

    Tomcat serves the web pages, AXL, UDS, the SSO SP and DRF (cucm-interfaces.md §1.1,
    [DOC S1,S3]); a restart ends every open web and API session (operations-facts.md B2) and
    takes phone HTTPS services and Extension Mobility away, not registrations (B3). From 14
    on AXL runs in its own container and stays up (§6.3 and §14's Tomcat restart, [DOC
    S3,S4]). Inferred (``activities.clients.cucm.inferred``): UDS is lost on every release,
    and an IM&P node's Tomcat serves the Jabber sign-in of the users homed there.

    Args:
        product: ``cucm`` or ``imp``.
        role: ``publisher`` or ``subscriber``.
        version: the node's release.
    """
    if product == "imp":
        return (IMP_ADMIN,) + ((IMP_JABBER,) if inferred.IMP_JABBER_SIGN_IN_NEEDS_TOMCAT else ())
    major = parse_version(version)[:1] or (0,)
    lost = [WEB_ADMIN]
    if major < (14,):
        lost.append(AXL_API)
    if major < (14,) or inferred.UDS_LOST_IN_TOMCAT_RESTART_FROM_14:
        lost.append(UDS_JABBER)
    lost.append(PHONE_HTTPS)
    if role == "publisher":
        lost.append(DRF_BACKUP)
    return tuple(lost)
