"""How every ucrenew process connects to Temporal: address, namespace, TLS, mTLS, API key.

Workers, the CLI and the service all connect through :func:`connect_client`, so a secured
cluster (server CA, server name, client certificate and key, API key) is configured once,
with ``UCRENEW_TEMPORAL_*`` variables. The client certificate, its key and the API key are
secret references (``env:NAME`` / ``file:PATH``), resolved here at connect time: their
values go to the Temporal SDK and nowhere else, and no error message repeats them.

A connection that fails becomes a :class:`TemporalConnectError` that names the setting to
fix: an unreadable CA file, a reference that does not resolve, a TLS handshake refused by
either side, credentials the server refused, or nothing answering at the address.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Final

from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from activities.clients.secrets import SecretRefError, resolve_secret_ref
from workers import telemetry
from workers.settings import UcrenewSettings

__all__ = [
    "ConnectOptions",
    "TemporalConnectError",
    "connect_client",
    "connect_options",
]

ENV_TLS: Final = "UCRENEW_TEMPORAL_TLS"
ENV_CA_FILE: Final = "UCRENEW_TEMPORAL_TLS_CA_FILE"
ENV_SERVER_NAME: Final = "UCRENEW_TEMPORAL_TLS_SERVER_NAME"
ENV_CLIENT_CERT: Final = "UCRENEW_TEMPORAL_TLS_CLIENT_CERT_REF"
ENV_CLIENT_KEY: Final = "UCRENEW_TEMPORAL_TLS_CLIENT_KEY_REF"
ENV_API_KEY: Final = "UCRENEW_TEMPORAL_API_KEY_REF"
ENV_ADDRESS: Final = "UCRENEW_TEMPORAL_ADDRESS"

_PEM_CERT: Final = b"-----BEGIN CERTIFICATE-----"
# Words of the SDK's (rustls/tonic) connect errors that mean the TLS layer failed, not TCP.
_TLS_WORDS: Final = (
    "certificate",
    "tls",
    "handshake",
    "invalidcontenttype",
    "corrupt message",
    "alert",
    "unknownissuer",
    "notvalidforname",
    "peer",
)


class TemporalConnectError(RuntimeError):
    """ucrenew cannot connect to Temporal as configured; the message names what to fix.

    Attributes:
        unreachable: ``True`` when nothing answered at the address (worth retrying), ``False``
            for a configuration or credential problem that retrying will not cure.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        """Build the error.

        Args:
            message: What failed and which ``UCRENEW_TEMPORAL_*`` setting to check; never a
                secret.
            unreachable: Whether nothing answered at the address.
        """
        super().__init__(message)
        self.unreachable = unreachable


@dataclasses.dataclass(frozen=True)
class ConnectOptions:
    """The arguments of ``temporalio.client.Client.connect`` that the settings decide.

    Attributes:
        target_host: ``host:port`` of the frontend.
        namespace: The namespace.
        tls: ``False`` for plaintext, else the TLS configuration (CA, server name, client
            certificate and key).
        api_key: The resolved API key, or ``None``; never shown by ``repr``.
        rpc_metadata: gRPC headers sent with every call.
    """

    target_host: str
    namespace: str
    tls: TLSConfig | bool
    api_key: str | None = dataclasses.field(default=None, repr=False)
    rpc_metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        """How the connection is secured, for logs and errors (no secret material)."""
        if self.tls is False:
            mode = "plaintext"
        elif isinstance(self.tls, TLSConfig) and self.tls.client_cert is not None:
            mode = "mTLS"
        else:
            mode = "TLS"
        if self.api_key is not None:
            mode += " + API key"
        return f"{self.target_host} namespace {self.namespace} ({mode})"

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Client.connect`` (the target host included)."""
        return {
            "target_host": self.target_host,
            "namespace": self.namespace,
            "tls": self.tls,
            "api_key": self.api_key,
            "rpc_metadata": dict(self.rpc_metadata),
        }


def _tls_wanted(settings: UcrenewSettings) -> bool:
    material = (
        settings.temporal_tls_ca_file,
        settings.temporal_tls_server_name,
        settings.temporal_tls_client_cert_ref,
        settings.temporal_tls_client_key_ref,
    )
    if settings.temporal_tls is False:
        given = [
            env
            for env, value in zip(
                (ENV_CA_FILE, ENV_SERVER_NAME, ENV_CLIENT_CERT, ENV_CLIENT_KEY),
                material,
                strict=True,
            )
            if value is not None
        ]
        if given:
            raise TemporalConnectError(
                f"{ENV_TLS} is false but {', '.join(given)} is set: remove {ENV_TLS}=false to "
                "connect with TLS, or unset the TLS settings"
            )
        if settings.temporal_api_key_ref is not None:
            raise TemporalConnectError(
                f"{ENV_TLS} is false but {ENV_API_KEY} is set: an API key is only ever sent "
                f"over TLS; remove {ENV_TLS}=false"
            )
        return False
    if settings.temporal_tls:
        return True
    return any(value is not None for value in material) or settings.temporal_api_key_ref is not None


def _secret(ref: str, env: str, what: str) -> str:
    try:
        return resolve_secret_ref(ref)
    except SecretRefError as err:
        raise TemporalConnectError(f"{what} ({env}): {err}") from None


def _server_ca(settings: UcrenewSettings) -> bytes | None:
    path = settings.temporal_tls_ca_file
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TemporalConnectError(
            f"the Temporal server CA file {path} ({ENV_CA_FILE}) does not exist"
        ) from None
    except OSError as err:
        raise TemporalConnectError(
            f"cannot read the Temporal server CA file {path} ({ENV_CA_FILE}): "
            f"{err.strerror or type(err).__name__}"
        ) from None
    if _PEM_CERT not in data:
        raise TemporalConnectError(
            f"the Temporal server CA file {path} ({ENV_CA_FILE}) holds no PEM certificate "
            "(-----BEGIN CERTIFICATE-----)"
        )
    return data


def _client_pair(settings: UcrenewSettings) -> tuple[bytes, bytes] | None:
    cert_ref = settings.temporal_tls_client_cert_ref
    key_ref = settings.temporal_tls_client_key_ref
    if cert_ref is None and key_ref is None:
        return None
    if cert_ref is None or key_ref is None:
        given, missing = (
            (ENV_CLIENT_CERT, ENV_CLIENT_KEY)
            if key_ref is None
            else (ENV_CLIENT_KEY, ENV_CLIENT_CERT)
        )
        raise TemporalConnectError(
            f"{given} is set but {missing} is not: mTLS needs the client certificate and its "
            "private key, both as references (env:NAME or file:PATH)"
        )
    cert = _secret(cert_ref, ENV_CLIENT_CERT, "the Temporal client certificate")
    key = _secret(key_ref, ENV_CLIENT_KEY, "the Temporal client key")
    if _PEM_CERT.decode() not in cert:
        raise TemporalConnectError(
            f"the Temporal client certificate {cert_ref!r} ({ENV_CLIENT_CERT}) is not a PEM "
            "certificate (-----BEGIN CERTIFICATE-----)"
        )
    if "PRIVATE KEY-----" not in key:
        raise TemporalConnectError(
            f"the Temporal client key {key_ref!r} ({ENV_CLIENT_KEY}) is not a PEM private key "
            "(-----BEGIN … PRIVATE KEY-----)"
        )
    return cert.encode(), key.encode()


def connect_options(settings: UcrenewSettings, namespace: str | None = None) -> ConnectOptions:
    """The ``Client.connect`` arguments for the settings, secret references resolved.

    TLS is on when ``UCRENEW_TEMPORAL_TLS`` says so, or, unset, when any TLS setting or an
    API key is given. With an API key the ``temporal-namespace`` header is sent as well, as
    Temporal Cloud routes API-key calls by it.

    Args:
        settings: The process settings.
        namespace: The namespace, when not the settings' one (``admin init --namespace``).

    Returns:
        The options; :meth:`ConnectOptions.kwargs` feeds ``Client.connect``.

    Raises:
        TemporalConnectError: Contradicting settings, an unreadable or non-PEM CA file, a
            client certificate without its key (or the reverse), a reference that does not
            resolve or does not hold PEM.
    """
    ns = namespace or settings.namespace
    try:
        settings.temporal_host_port  # noqa: B018 (validates the address)
    except ValueError as err:
        raise TemporalConnectError(f"{err} ({ENV_ADDRESS})") from None
    tls: TLSConfig | bool = False
    if _tls_wanted(settings):
        pair = _client_pair(settings)
        tls = TLSConfig(
            server_root_ca_cert=_server_ca(settings),
            domain=settings.temporal_tls_server_name,
            client_cert=pair[0] if pair else None,
            client_private_key=pair[1] if pair else None,
        )
    api_key = None
    metadata: dict[str, str] = {}
    if settings.temporal_api_key_ref is not None:
        api_key = _secret(settings.temporal_api_key_ref, ENV_API_KEY, "the Temporal API key")
        metadata["temporal-namespace"] = ns
    return ConnectOptions(
        target_host=settings.temporal_address,
        namespace=ns,
        tls=tls,
        api_key=api_key,
        rpc_metadata=metadata,
    )


# How the client reports a connection the server ended, depending on which side notices first.
_CLOSED = ("connection closed", "connection reset", "broken pipe")


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _refused(options: ConnectOptions, detail: str) -> TemporalConnectError:
    if options.api_key is not None:
        fix = f"check the API key ({ENV_API_KEY}) and that it may use namespace {options.namespace}"
    elif isinstance(options.tls, TLSConfig) and options.tls.client_cert is not None:
        fix = (
            f"check that the client certificate ({ENV_CLIENT_CERT}) may use namespace "
            f"{options.namespace}"
        )
    else:
        fix = (
            f"the cluster wants credentials: set {ENV_API_KEY}, or {ENV_CLIENT_CERT} and "
            f"{ENV_CLIENT_KEY}"
        )
    return TemporalConnectError(
        f"Temporal at {options.describe()} refused the credentials ({detail}): {fix}"
    )


def _failed(options: ConnectOptions, err: Exception) -> TemporalConnectError:
    text = _one_line(str(err))
    lowered = text.lower()
    tls = options.tls if isinstance(options.tls, TLSConfig) else None
    if "code: unauthenticated" in lowered or "code: permissiondenied" in lowered:
        return _refused(options, text)
    if tls is not None and "invalidcontenttype" in lowered:
        return TemporalConnectError(
            f"TLS handshake with Temporal at {options.describe()} failed ({text}): the server "
            f"does not speak TLS; set {ENV_TLS}=false (and no TLS settings) for a plaintext "
            "frontend"
        )
    if tls is not None and any(word in lowered for word in _TLS_WORDS):
        return TemporalConnectError(
            f"TLS handshake with Temporal at {options.describe()} failed ({text}): check "
            f"{ENV_CA_FILE} (the CA that signed the server's certificate), {ENV_SERVER_NAME} "
            f"(the name in it), and, when the server wants a client certificate, "
            f"{ENV_CLIENT_CERT} and {ENV_CLIENT_KEY}"
        )
    if tls is not None and tls.client_cert is None and any(word in lowered for word in _CLOSED):
        # TLS 1.3: the server checks the client's certificate after the handshake and, missing
        # one, closes the connection; the client sees no alert, only the close.
        return TemporalConnectError(
            f"Temporal at {options.describe()} closed the TLS connection ({text}): it probably "
            f"requires a client certificate (mTLS); set {ENV_CLIENT_CERT} and {ENV_CLIENT_KEY}"
        )
    # A TLS frontend drops a plaintext HTTP/2 preface; the client reports a reset, a broken pipe
    # or a plain close depending on which side notices first.
    if tls is None and any(word in lowered for word in _CLOSED):
        return TemporalConnectError(
            f"Temporal at {options.describe()} closed the connection ({text}): if it wants "
            f"TLS, set {ENV_TLS}=true and {ENV_CA_FILE}"
        )
    return TemporalConnectError(
        f"cannot reach Temporal at {options.describe()} ({text}): check {ENV_ADDRESS}, or "
        "start the embedded stack with `ucrenew dev up`",
        unreachable=True,
    )


async def connect_client(
    settings: UcrenewSettings,
    *,
    data_converter: DataConverter | None = None,
    namespace: str | None = None,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
) -> Client:
    """Connect to Temporal as the settings say: plaintext, TLS, mTLS and/or an API key.

    With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set (or a tracer provider installed, see
    ``workers/telemetry.py``) the client carries Temporal's tracing interceptor, and so does
    every worker built on it.

    Args:
        settings: The process settings (``UCRENEW_TEMPORAL_*``).
        data_converter: The converter; the SDK's default when ``None`` (ucrenew's processes
            pass the shared one of :func:`workers.converter.make_data_converter`).
        namespace: The namespace, when not the settings' one.
        interceptors: Client interceptors.
        runtime: The Temporal runtime (a worker's, serving metrics:
            :func:`workers.telemetry.metrics_runtime`); the SDK's default when ``None``.

    Returns:
        The connected client (the SDK checks the connection with a first call).

    Raises:
        TemporalConnectError: See :func:`connect_options`; also a TLS handshake failure,
            refused credentials, nothing answering (``unreachable``), or an OTLP setting
            that cannot be used.
    """
    options = connect_options(settings, namespace)
    try:
        telemetry.configure_tracing()
    except telemetry.TelemetryConfigError as err:
        raise TemporalConnectError(str(err)) from None
    tracer = telemetry.tracing_interceptor()
    extra: dict[str, Any] = {
        "interceptors": [*interceptors, *([tracer] if tracer is not None else [])]
    }
    if data_converter is not None:
        extra["data_converter"] = data_converter
    if runtime is not None:
        extra["runtime"] = runtime
    try:
        return await Client.connect(**options.kwargs(), **extra)
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
            raise _refused(options, f"{err.status.name}: {_one_line(err.message)}") from None
        raise _failed(options, err) from None
    except RuntimeError as err:
        raise _failed(options, err) from None
