"""Which of CUCM's interfaces renews a certificate, by release: the path a change takes.

CUCM offers three ways to generate a CSR and upload certificates (cucm-interfaces.md §2, §3,
§7, §11): the Certificate Management REST API (14 and later), the OS Administration web
interface (every release; the only one for multi-server CSRs before 14, and for multi-server
uploads from 14SU2) and the platform CLI (single-server only). :func:`choose_path` picks, from
the release discovery reported and the cluster's ``certificates:`` block, which interface
does each step; the plan shows it and every activity follows it. docs/releases.md is the
table for people.

Pure data and functions, no I/O: workflows import it through the sandbox like the catalog.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from activities.catalog import parse_version
from activities.clients.cucm import inferred

Interface = Literal["rest", "os-admin", "cli"]
Distribution = Literal["multi-server", "per-node"]

#: How people call each interface, in plans and messages.
INTERFACE_LABELS: dict[str, str] = {
    "rest": "Certificate Management REST",
    "os-admin": "OS Administration",
    "cli": "platform CLI",
}
#: The first release with the Certificate Management REST API ([DOC S8]).
REST_SINCE = (14,)


class PathError(ValueError):
    """The cluster's ``certificates:`` block asks for a path its release does not offer."""


class CertificatePath(BaseModel):
    """The interfaces a change uses for each certificate step, and why.

    Attributes:
        distribution: ``multi-server`` (one SAN certificate per purpose, CSR and upload on the
            purpose's publisher) or ``per-node`` (a single-server CSR, certificate and upload
            on each node).
        csr: generates the CSR and reads the pending one back.
        trust: lists and uploads the CA certificates (on the purpose's publisher).
        identity: uploads the signed certificate.
        readback: reads the installed certificate of every node back.
        release: the release the choice was made for ("" when unknown).
        reason: why, in one sentence, for the plan.
    """

    model_config = ConfigDict(frozen=True)

    distribution: Distribution = "multi-server"
    csr: Interface = "rest"
    trust: Interface = "rest"
    identity: Interface = "rest"
    readback: Interface = "rest"
    release: str = ""
    reason: str = Field(default="")

    @property
    def per_node(self) -> bool:
        """Whether each node gets its own single-server certificate."""
        return self.distribution == "per-node"

    def label(self, step: Literal["csr", "trust", "identity", "readback"]) -> str:
        """The interface of ``step``, for people (``via OS Administration``)."""
        return INTERFACE_LABELS[getattr(self, step)]


#: The path of changes started before paths existed: REST for everything.
LEGACY_PATH = CertificatePath(reason="Certificate Management REST (changes started before 1.3)")


def has_rest(version: str | None) -> bool:
    """Whether ``version`` serves the Certificate Management REST API (14 and later)."""
    parts = parse_version(version or "")
    return bool(parts) and parts[:1] >= REST_SINCE


def multi_san_upload_gui_only(version: str | None) -> bool:
    """Whether a multi-server certificate can only be uploaded in OS Administration (14SU2+)."""
    parts = parse_version(version or "")
    return bool(parts) and parts >= inferred.MULTI_SAN_UPLOAD_GUI_ONLY_SINCE


def readback_interface(version: str | None) -> Interface:
    """Where a node's installed certificates are read: REST from 14, else OS Administration."""
    return "rest" if has_rest(version) else "os-admin"


def choose_path(
    version: str | None,
    distribution: Distribution = "multi-server",
    interface: Literal["auto", "rest", "os-admin", "cli"] = "auto",
) -> CertificatePath:
    """The path a change takes on a cluster of ``version``.

    Args:
        version: the release discovery reported (``12.5.1.16900-48``); None when unknown.
        distribution: multi-server (Cisco's procedure) or per-node.
        interface: ``auto`` (what the release offers) or the interface the inventory insists on.

    Returns:
        The interface of each step, with the reason.

    Raises:
        PathError: the interface asked for does not exist on the release, or cannot do the
            distribution (the CLI generates single-server CSRs only).
    """
    release = version or ""
    rest = has_rest(version)
    gui_only = multi_san_upload_gui_only(version)
    readback = readback_interface(version)
    per_node = distribution == "per-node"
    where = f"CUCM {release}" if release else "a cluster of unknown release"
    if interface == "rest":
        if not rest:
            raise PathError(
                f"the inventory asks for the Certificate Management REST API, which {where} "
                "does not have (CUCM 14 and later): remove `interface: rest` or use os-admin"
            )
        if gui_only and not per_node:
            raise PathError(
                f"{where} takes multi-server certificates in OS Administration only (14SU2 and "
                "later): remove `interface: rest`, or renew per node"
            )
        return CertificatePath(
            distribution=distribution,
            csr="rest",
            trust="rest",
            identity="rest",
            readback="rest",
            release=release,
            reason="the inventory asks for the Certificate Management REST API",
        )
    if interface == "cli":
        if not per_node:
            raise PathError(
                "the platform CLI generates single-server CSRs only (set csr gen): use "
                "`distribution: per-node` with `interface: cli`, or another interface"
            )
        return CertificatePath(
            distribution=distribution,
            csr="cli",
            trust="cli",
            identity="cli",
            readback=readback,
            release=release,
            reason="the inventory asks for the platform CLI (set csr gen, set cert import)",
        )
    if interface == "os-admin":
        return CertificatePath(
            distribution=distribution,
            csr="os-admin",
            trust="os-admin",
            identity="os-admin",
            readback="os-admin",
            release=release,
            reason="the inventory asks for OS Administration",
        )
    if per_node:
        if rest:
            return CertificatePath(
                distribution=distribution,
                release=release,
                reason=f"{where} has the Certificate Management REST API; one single-server "
                "CSR and certificate per node (this-server)",
            )
        return CertificatePath(
            distribution=distribution,
            csr="cli",
            trust="os-admin",
            identity="cli",
            readback=readback,
            release=release,
            reason=f"{where} has no Certificate Management REST API (14 and later): "
            "single-server CSRs and uploads on each node's CLI (set csr gen, set cert import "
            "own), CA certificates and read-back in OS Administration",
        )
    if not rest:
        return CertificatePath(
            csr="os-admin",
            trust="os-admin",
            identity="os-admin",
            readback="os-admin",
            release=release,
            reason=f"{where} has no Certificate Management REST API (14 and later): "
            "multi-server CSR and uploads in OS Administration, Cisco's procedure",
        )
    if gui_only:
        return CertificatePath(
            identity="os-admin",
            release=release,
            reason=f"{where} takes multi-server certificates in OS Administration only "
            "(14SU2 and later); CSR, trust and read-back over REST",
        )
    return CertificatePath(
        release=release,
        reason=f"{where} has the Certificate Management REST API (14 and later)",
    )
