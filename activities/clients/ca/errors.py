"""Typed errors raised by certificate authority backends.

One root, :class:`CaError`, as in acme's ``errors.py``; the activity layer maps each class to
an ``ApplicationError`` whose ``type`` is the class name. Messages and attributes never carry
secrets (tokens, passwords, private keys), only names, references and CA-provided reasons.
"""

from __future__ import annotations

__all__ = [
    "CaConfigurationError",
    "CaError",
    "CaProtocolError",
    "CaRequestDenied",
    "CaRequestNotFound",
    "CaUnavailable",
]


class CaError(Exception):
    """Root of every CA backend error.

    Attributes:
        ca: Name of the CA backend or instance (``local``, an ADCS host).
        request_ref: The request reference concerned, if any.
    """

    def __init__(self, message: str, *, ca: str | None = None, request_ref: str | None = None):
        """Build the error.

        Args:
            message: Human text without secrets.
            ca: Name of the CA backend or instance.
            request_ref: The request reference concerned, if any.
        """
        super().__init__(message)
        self.message = message
        self.ca = ca
        self.request_ref = request_ref


class CaUnavailable(CaError):
    """The CA cannot be reached or is temporarily failing; retrying may succeed.

    Attributes:
        http_status: HTTP status of the failing response, if there was one.
        retry_after: Seconds the CA asked us to wait, if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        ca: str | None = None,
        request_ref: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ):
        """Build the error.

        Args:
            message: Human text without secrets.
            ca: Name of the CA backend or instance.
            request_ref: The request reference concerned, if any.
            http_status: HTTP status of the failing response, if any.
            retry_after: Seconds the CA asked us to wait, if it said.
        """
        super().__init__(message, ca=ca, request_ref=request_ref)
        self.http_status = http_status
        self.retry_after = retry_after


class CaRequestDenied(CaError):
    """The CA refused the request (policy, template, CSR content). Retrying will not help.

    Backends report a refusal as a ``denied`` submission; this error is what callers raise
    when they turn that answer into a failure.

    Attributes:
        reason: The CA's stated reason, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        ca: str | None = None,
        request_ref: str | None = None,
        reason: str | None = None,
    ):
        """Build the error.

        Args:
            message: Human text without secrets.
            ca: Name of the CA backend or instance.
            request_ref: The request reference concerned, if any.
            reason: The CA's stated reason, if any.
        """
        super().__init__(message, ca=ca, request_ref=request_ref)
        self.reason = reason


class CaRequestNotFound(CaError):
    """The CA does not know the request reference being polled."""


class CaProtocolError(CaError):
    """The CA answered something this client does not understand."""


class CaConfigurationError(CaError):
    """The CA backend is misconfigured (bad directory, unreadable key, wrong template name)."""
