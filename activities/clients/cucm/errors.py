"""Typed errors of the CUCM clients, from one root, with structured attributes.

The activity boundary (activities/errors.py) translates these once into Temporal
ApplicationErrors; messages never contain credentials.
"""

from __future__ import annotations

from typing import Any


class CucmError(Exception):
    """Root of every CUCM client error.

    Attributes:
        node: FQDN of the node that failed, when known.
        retryable: Whether retrying the same call may succeed.
        asked_wait: Seconds the node asked to wait before a retry (its ``Retry-After``,
            capped), None when it did not say.
        attempts: How many times the call was tried before this error was raised.
    """

    retryable = True
    asked_wait: float | None = None
    attempts: int = 1

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(f"{node}: {message}" if node else message)
        self.node = node


class CucmUnreachable(CucmError):
    """The node refused or dropped the connection, or timed out."""


class CucmResponseLost(CucmUnreachable):
    """The request was sent but no response came back: it may or may not have been applied."""


class CucmAuthError(CucmError):
    """Credentials were refused (HTTP 401, SSH authentication failure)."""

    retryable = False


class CucmHttpError(CucmError):
    """An HTTP error status not covered by a more specific error."""

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        status: int = 0,
        asked_wait: float | None = None,
    ) -> None:
        super().__init__(message, node=node)
        self.status = status
        self.retryable = status >= 500 or status == 429
        self.asked_wait = asked_wait


class CucmBadRequest(CucmHttpError):
    """HTTP 400: the node refused the request as invalid (retrying will not help)."""

    retryable = False


class CucmIssuerNotTrusted(CucmBadRequest):
    """Identity upload refused: the issuing CA is not in the purpose's trust store (HTTP 400)."""


class CucmStaleCsr(CucmHttpError):
    """Identity upload refused with 500: the certificate does not match the CSR pending on the
    node (a newer CSR was generated, or the upload already happened)."""

    def __init__(self, message: str, *, node: str | None = None, status: int = 500) -> None:
        super().__init__(message, node=node, status=status)
        self.retryable = False


class CucmTrustDuplicate(CucmBadRequest):
    """Trust upload refused because every certificate already exists in the store."""


class CucmThrottled(CucmError):
    """The node's realtime (Control Center / RisPort) or AXL rate limit was exceeded.

    Attributes:
        retry_after: Seconds to wait before the next call: the node's ``Retry-After`` when it
            sent one (then also :attr:`asked_wait`), else the client's default back-off.
    """

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        retry_after: float = 30.0,
        asked_wait: float | None = None,
    ) -> None:
        super().__init__(message, node=node)
        self.asked_wait = asked_wait
        self.retry_after = asked_wait if asked_wait is not None else retry_after


class CucmSoapFault(CucmError):
    """A SOAP fault other than throttling.

    Attributes:
        faultcode: The fault's faultcode.
        axlcode: AXL faults: the ``axlError/axlcode`` of the detail, when numeric.
        axlmessage: AXL faults: the ``axlError/axlmessage`` of the detail.
    """

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        faultcode: str = "",
        axlcode: int | None = None,
        axlmessage: str = "",
    ) -> None:
        super().__init__(message, node=node)
        self.faultcode = faultcode
        self.axlcode = axlcode
        self.axlmessage = axlmessage


class CucmDeviceNotFound(CucmSoapFault):
    """AXL does not know the device a request names (retrying will not help).

    Attributes:
        device: The device name as sent.
    """

    retryable = False

    def __init__(self, message: str, *, device: str = "", **fault: Any) -> None:
        super().__init__(message, **fault)
        self.device = device


class CucmAxlSchemaError(CucmSoapFault):
    """AXL refused a request as not valid against its schema (retrying will not help)."""

    retryable = False


class CucmAxlVersionError(CucmError):
    """AXL answered 599: the requested schema version is not supported."""

    retryable = False

    def __init__(self, message: str, *, node: str | None = None, supported: tuple[str, ...] = ()):
        super().__init__(message, node=node)
        self.supported = supported


class CucmServiceError(CucmError):
    """A service could not be controlled (not activated, failed to start, hung)."""

    def __init__(
        self, message: str, *, node: str | None = None, service: str = "", retryable: bool = True
    ) -> None:
        super().__init__(message, node=node)
        self.service = service
        self.retryable = retryable


class ServiceNotActivated(CucmServiceError):
    """The service to restart is not activated on the node (raised with ``retryable=False``).

    Named after the failure the renewal reports, not ``Cucm…`` like the others; the message
    names the node.
    """


class CucmCliError(CucmError):
    """A CLI command failed or printed something unexpected."""

    def __init__(self, message: str, *, node: str | None = None, command: str = "") -> None:
        super().__init__(message, node=node)
        self.command = command


class CucmTlsError(CucmError):
    """The TLS handshake failed or the served certificate did not verify."""


class CucmCertificateUntrusted(CucmTlsError):
    """The node's certificate did not verify against what ucrenew trusts for its cluster.

    The message reads ``<fqdn>:<port>: certificate verify failed: <OpenSSL's reason> — …``,
    followed by the files ucrenew trusts and which one to fix. Retrying does not help until
    an operator changes the trust (or the node's certificate).

    Attributes:
        port: The TCP port of the handshake.
        detail: The message without the leading ``<fqdn>:<port>: ``.
        verify_code: OpenSSL's X509_V_ERR code (62: hostname mismatch, 10: expired, ...).
        verify_message: OpenSSL's verification message.
    """

    retryable = False

    def __init__(
        self, message: str, *, node: str, port: int, verify_code: int = 0, verify_message: str = ""
    ) -> None:
        super().__init__(f"{node}:{port}: {message}")
        self.node = node
        self.port = port
        self.detail = message
        self.verify_code = verify_code
        self.verify_message = verify_message


class CucmTrustConfigError(CucmTlsError):
    """A CA file ucrenew is told to trust cannot be used (missing, unreadable, no certificate)."""

    retryable = False


class CucmLoginPageError(CucmHttpError):
    """A node's administration page answered, but not with its login page (an error status,
    a redirect off the node, or a page without the login form)."""


class CucmServiceTimeout(CucmServiceError):
    """A service did not reach its end state within the caller's budget (it may still)."""


class ServiceFailedToStart(CucmServiceError):
    """A service ended stopped after a start (CLI ``[NOTRUNNING]``/``[FAILED]``, Control Center
    Stopped with "Component is not running"): not retryable, since another restart fails the
    same way until someone fixes the node.

    Named after the failure the renewal reports, not ``Cucm…`` like the others; the message
    names the node and says what to do.
    """

    def __init__(
        self, message: str, *, node: str | None = None, service: str = "", retryable: bool = False
    ) -> None:
        super().__init__(message, node=node, service=service, retryable=retryable)


class ServiceHung(CucmServiceTimeout):
    """A service was still starting (or stopping) when the restart's budget ran out: not
    retryable, since another attempt would only wait as long again.

    Named after the failure the renewal reports; the message names the node and says what to
    do.
    """

    def __init__(
        self, message: str, *, node: str | None = None, service: str = "", retryable: bool = False
    ) -> None:
        super().__init__(message, node=node, service=service, retryable=retryable)


class ServiceNotServing(CucmServiceTimeout):
    """The service restarted but does not serve (HTTPS) within the caller's budget.

    Named after the failure the renewal reports, not ``Cucm…`` like the others; the message
    names the node.
    """


class CucmHostKeyError(CucmError):
    """The node's SSH host key is not the one in known_hosts (or none is configured)."""

    retryable = False


class CucmWrongNode(CucmError):
    """Another node answered at the inventory node's address (its host name or SSH host key
    is another node's): nothing may be done there in this node's name.

    Attributes:
        address: Where the connection went.
        answered_by: Who answered, as far as known (a host name, or the node whose SSH host
            key it presented).
    """

    retryable = False

    def __init__(self, message: str, *, node: str, address: str, answered_by: str) -> None:
        super().__init__(message)  # the message names the node already
        self.node = node
        self.address = address
        self.answered_by = answered_by


class CucmUnexpectedPage(CucmHttpError):
    """A node's OS Administration (``/cmplatform``) answered with a page ucrenew does not
    recognise: no status area where one belongs, a form without its fields, an HTML error
    page, an error status code. Nothing is guessed from such a page; after a form post the
    node may or may not have acted, so the caller reads back before it acts again.

    Retryable when the HTTP status is (5xx, 429), as any :class:`CucmHttpError`.

    Attributes:
        url: The page, without query (``https://<fqdn>:8443/cmplatform/…``).
        status: The HTTP status of the answer.
        missing: What the page lacked, in words.
    """

    def __init__(
        self,
        message: str,
        *,
        node: str,
        url: str,
        status: int,
        missing: str,
        asked_wait: float | None = None,
    ) -> None:
        super().__init__(message, node=node, status=status, asked_wait=asked_wait)
        self.url = url
        self.missing = missing


class CucmFormRefused(CucmBadRequest):
    """A node's OS Administration refused a form with an error status; the message is the
    node's, verbatim (retrying the same form will not help).

    Attributes:
        url: The form's page.
        node_message: The text of the status area, verbatim.
    """

    def __init__(self, message: str, *, node: str, url: str, node_message: str) -> None:
        super().__init__(message, node=node, status=200)
        self.url = url
        self.node_message = node_message


class CucmTokenRefused(CucmError):
    """A node's OS Administration refused a form's anti-CSRF token twice in a row, each time
    from a fresh view of the form. The node did nothing; a later attempt may succeed.

    Attributes:
        url: The form's page.
        node_message: The node's words, verbatim.
    """

    def __init__(self, message: str, *, node: str, url: str, node_message: str) -> None:
        super().__init__(message, node=node)
        self.url = url
        self.node_message = node_message
