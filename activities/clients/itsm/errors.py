"""Errors of the ITSM adapters: one root, structured attributes, never a secret in a message."""

from __future__ import annotations


class ItsmError(Exception):
    """Root of the ITSM errors.

    Attributes:
        system: ``servicenow`` or ``webhook``.
        http_status: The HTTP status that caused it, when there was one.
        retryable: Whether trying again later may succeed.
        retry_after: Seconds the server asked to wait (``Retry-After``), when it did.
    """

    retryable = True

    def __init__(
        self,
        system: str,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Build the error.

        Args:
            system: The adapter kind.
            message: What an operator reads; never a credential.
            http_status: The HTTP status, if any.
            retry_after: The server's ``Retry-After`` in seconds, if any.
        """
        super().__init__(message)
        self.system = system
        self.http_status = http_status
        self.retry_after = retry_after


class ItsmUnavailable(ItsmError):
    """The ITSM system did not answer, or answered 5xx / 429: try again later."""


class ItsmAuthError(ItsmError):
    """The ITSM system refused ucrenew's credentials (401/403): fix the account or its role."""

    retryable = False


class ItsmConfigError(ItsmError):
    """The ``itsm:`` configuration cannot be used (bad URL, unreadable secret or CA bundle)."""

    retryable = False


class ItsmRecordNotFound(ItsmError):
    """The change record does not exist (or the account may not read it)."""

    retryable = False


class ItsmProtocolError(ItsmError):
    """The ITSM system answered something the contract does not allow."""

    retryable = False
