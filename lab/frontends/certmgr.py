"""Certificate Management REST (``/platformcom/api/v1/certmgr``) of a twin node.

Served from release 14 ([DOC S8]; :func:`lab.facts.certmgr_rest_served`): an older node
answers these URLs with Tomcat's 404 page (lab/listeners.py). From 14SU2 an identity upload of
a multi-SAN certificate is refused (GUI only, [DOC S3]; status and message [INF] in
:mod:`lab.facts`).

Translation only: requests become :class:`~lab.cluster.Cluster` calls and results become the
JSON bodies public clients parse (cucm-interfaces.md §2). The rules live in the cluster and
every shape or status the reference leaves open comes from :mod:`lab.facts`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web
from cryptography import x509

from lab import facts, pki
from lab.catalog import PAWS
from lab.errors import LabError
from lab.frontends.base import LAB_KEY, NODE_KEY, Twin
from lab.nodes import Node

BASE = "/platformcom/api/v1/certmgr"


def add_routes(app: web.Application) -> None:
    """Register the certmgr routes on a node's application."""
    app.router.add_post(f"{BASE}/config/csr", generate_csr)
    app.router.add_post(f"{BASE}/config/trust/certificates", upload_trust)
    app.router.add_post(f"{BASE}/config/identity/certificates", upload_identity)
    app.router.add_get(f"{BASE}/config/trust/certificate", list_trust)
    app.router.add_get(f"{BASE}/config/identity/certificate", get_identity)
    app.router.add_get(f"{BASE}/config/snapshot/server", snapshot)


def _context(request: web.Request) -> tuple[Twin, Node]:
    """The lab and node of a request, after the PAWS and authentication gates."""
    lab = request.app[LAB_KEY]
    node = request.app[NODE_KEY]
    if not node.started(PAWS):
        raise LabError(facts.REST_PAWS_DOWN_STATUS, facts.REST_PAWS_DOWN_MESSAGE, "paws-down")
    lab.check_auth(request, "os_admin", "CMPlatform")
    return lab, node


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise LabError(400, "Request body is not valid JSON", "bad-request") from None
    if not isinstance(data, dict):
        raise LabError(400, "Request body must be a JSON object", "bad-request")
    return data


def _str(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise LabError(400, f"{key} is required", "bad-request")
    return value


def _pems(data: dict[str, Any]) -> list[str]:
    value = data.get("certificates")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise LabError(400, "certificates is required", "bad-request")
    if not all(isinstance(v, str) for v in value):
        raise LabError(400, facts.REST_BAD_FORMAT_MESSAGE, "bad-format")
    return value


def _banner(template: str, nodes: list[Node]) -> str:
    return template.format(nodes=facts.REST_BANNER_NODE_SEPARATOR.join(n.hostname for n in nodes))


def _query_service(request: web.Request) -> str:
    service = request.query.get("service", "")
    if not service:
        raise LabError(400, "service is required", "bad-request")
    return service


def _cert_fields(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": pki.common_name(cert.subject),
        "issuer": pki.common_name(cert.issuer),
        "serial": pki.serial_hex(cert),
        "notBefore": cert.not_valid_before_utc.isoformat(),
        "notAfter": cert.not_valid_after_utc.isoformat(),
    }


async def generate_csr(request: web.Request) -> web.Response:
    """POST ``/config/csr``: generate (and for multi-server, export) a CSR."""
    lab, node = _context(request)
    data = await _body(request)
    service = _str(data, "service")
    distribution = _str(data, "distribution", facts.REST_DEFAULT_DISTRIBUTION)
    common_name = data.get("commonName") or None
    alt_names = data.get("altNames") or []
    try:
        key_length = int(data["keyLength"]) if "keyLength" in data else None
    except (TypeError, ValueError):
        raise LabError(400, "keyLength must be a number", "bad-request") from None
    if not isinstance(alt_names, list) or not all(isinstance(a, str) for a in alt_names):
        raise LabError(400, "altNames must be a list of names", "bad-request")
    if common_name is not None and not isinstance(common_name, str):
        raise LabError(400, "commonName must be a string", "bad-request")
    await lab.hold_operation(node, "csr")
    # Key generation takes a while (seconds at 4096 bits): keep the other nodes serving.
    pending, exported = await asyncio.to_thread(
        lab.cluster.generate_csr,
        node,
        service,
        distribution,
        common_name,
        str(data["keyType"]) if data.get("keyType") else None,
        key_length,
        str(data.get("hashAlgorithm", "sha256")),
        alt_names,
    )
    lab.lose_response(node, "csr")
    return web.json_response(
        {
            "csr": pki.pem(pending.csr),
            "message": _banner(facts.CSR_EXPORT_BANNER, exported),
            "service": service,
            "distribution": distribution,
            "trackingId": pending.tracking_id,
        }
    )


async def upload_trust(request: web.Request) -> web.Response:
    """POST ``/config/trust/certificates``: import CA certificates into trust stores."""
    lab, node = _context(request)
    data = await _body(request)
    services = data.get("service")
    if isinstance(services, str):
        services = [services]
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise LabError(400, "service must be a list of services", "bad-request")
    description = data.get("description") or facts.REST_TRUST_DEFAULT_DESCRIPTION
    await lab.hold_operation(node, "upload-trust")
    outcomes = lab.cluster.upload_trust(node, services, _pems(data), str(description))
    lab.lose_response(node, "upload-trust")
    stores = list(dict.fromkeys(o["store"] for o in outcomes))
    return web.json_response(
        {
            "message": facts.REST_TRUST_UPLOAD_MESSAGE.format(stores=", ".join(stores)),
            "certificates": [
                {
                    "service": o["store"],
                    "subject": o["subject"],
                    "serial": o["serial"],
                    "fileName": o["fileName"],
                    "status": o["outcome"],
                    "nodes": o["nodes"],
                }
                for o in outcomes
            ],
        },
        status=facts.REST_TRUST_UPLOAD_STATUS,
    )


async def upload_identity(request: web.Request) -> web.Response:
    """POST ``/config/identity/certificates``: install the signed certificate of a CSR."""
    lab, node = _context(request)
    data = await _body(request)
    service = _str(data, "service")
    pems = _pems(data)
    if lab.spec.build >= facts.REST_MULTI_SAN_IDENTITY_REFUSED_SINCE and lab.cluster.multi_san(
        pems[0]
    ):
        lab.journal.record(
            "identity.refused", node.hostname, purpose=service, reason="multi-san-gui-only"
        )
        raise LabError(
            facts.REST_MULTI_SAN_IDENTITY_REFUSED_STATUS,
            facts.REST_MULTI_SAN_IDENTITY_REFUSED_MESSAGE,
            "multi-san-gui-only",
        )
    await lab.hold_operation(node, "upload-identity")
    installed = lab.cluster.upload_identity(node, service, pems)
    lab.lose_response(node, "upload-identity")
    return web.json_response(
        {
            "message": _banner(facts.CERT_UPLOAD_BANNER, installed),
            "service": service,
        }
    )


async def list_trust(request: web.Request) -> web.Response:
    """GET ``/config/trust/certificate?service=``: the certificates of one trust store."""
    lab, node = _context(request)
    store, entries = lab.cluster.trust_entries(node, _query_service(request))
    items = [
        {
            "certificate": pki.pem(e.cert),
            "fileName": e.file_name,
            "description": e.description,
            "service": store,
            **_cert_fields(e.cert),
        }
        for e in entries
    ]
    return web.json_response({"certificates": items} if facts.REST_TRUST_LIST_WRAPPED else items)


async def get_identity(request: web.Request) -> web.Response:
    """GET ``/config/identity/certificate?service=``: the *installed* identity certificate."""
    lab, node = _context(request)
    service = _query_service(request)
    kc = lab.cluster.identity(node, service)
    return web.json_response(
        {
            "service": service,
            "certificate": kc.pem,
            "fileName": f"{service}/{service}.pem",
            "description": kc.description,
            "multiServer": kc.multi_server,
            **_cert_fields(kc.cert),
        }
    )


async def snapshot(request: web.Request) -> web.Response:
    """GET ``/config/snapshot/server``: identities (with pending CSRs) and trust stores."""
    _, node = _context(request)
    identities = [
        {
            "service": purpose,
            "certificate": node.own[purpose].pem if purpose in node.own else None,
            "csr": pki.pem(node.pending[purpose].csr) if purpose in node.pending else None,
        }
        for purpose in dict.fromkeys([*node.own, *node.pending])
    ]
    trusts = [
        {
            "service": store,
            "certificate_data": [
                {"filename": f"{store}/{name}", "certificate": pki.pem(entry.cert)}
                for name, entry in entries.items()
            ],
        }
        for store, entries in node.trust.items()
    ]
    return web.json_response(
        {
            "trackingId": uuid.uuid4().hex,
            "server": node.hostname,
            "identities": identities,
            "trusts": trusts,
            "revokedCertificates": [],
        }
    )
