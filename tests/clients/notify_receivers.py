"""Local receivers that record what ucrenew's notification channels send.

:class:`WebhookReceiver` is a plain asyncio HTTP/1.1 server on 127.0.0.1 (one request per
connection, the status it answers settable); :class:`SmtpReceiver` wraps aiosmtpd's
controller, optionally with STARTTLS and a login. Both keep every message they got.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from workers.devserver import free_loopback_port


@dataclass
class Request:
    """One HTTP request as received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records requests and answers ``status``."""

    status: int = 200
    retry_after: str | None = None
    requests: list[Request] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, path: str = "/hook") -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Request(method, path, headers, body))
            self.arrived.set()
            extra = f"Retry-After: {self.retry_after}\r\n" if self.retry_after else ""
            reply = b"ok" if self.status < 400 else b"no"
            writer.write(
                f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(reply)}\r\n{extra}"
                "Connection: close\r\n\r\n".encode()
                + reply
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files (the test SMTP server's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append((envelope, message_from_bytes(content)))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1; with ``tls_dir`` it offers STARTTLS (required) and a login.

    Args:
        tls_dir: Where to write its self-signed certificate (None: plain SMTP, no login).
        login: The user name and password it accepts.
    """

    def __init__(self, tls_dir: Path | None = None, login: tuple[str, str] = ("", "")) -> None:
        self._recorder = _Recorder()
        self.port = free_loopback_port()
        self.cert_file: Path | None = None
        kwargs: dict[str, Any] = {}
        if tls_dir is not None:
            self.cert_file, key_file = self_signed(tls_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key_file)
            user, password = login

            def check(
                server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
            ) -> AuthResult:
                ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (
                    user.encode(),
                    password.encode(),
                )
                return AuthResult(success=ok, handled=False)

            kwargs = {
                "tls_context": context,
                "require_starttls": True,
                "auth_require_tls": True,
                "authenticator": check,
            }
        self._controller = Controller(
            self._recorder, hostname="127.0.0.1", port=self.port, **kwargs
        )

    @property
    def messages(self) -> list[tuple[Envelope, Message]]:
        """Every message received: envelope and parsed e-mail."""
        return self._recorder.messages

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
