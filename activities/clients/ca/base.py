"""The one interface every certificate authority backend implements.

Backends: the built-in local CA now; manual (operator pastes the certificate), ACME and
Microsoft ADCS web enrollment later. A workflow submits the publisher's CSR once, then polls
the returned reference until the request is issued or denied; a CA that issues at once (local,
ACME after validation) simply answers ``issued`` to ``submit``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from activities.models import CaProfile, CaSubmission

__all__ = ["CertificateAuthority"]


@runtime_checkable
class CertificateAuthority(Protocol):
    """A CA that signs CUCM multi-server CSRs.

    A refusal is an answer, not an error: it comes back as status ``denied`` with the CA's
    reason. Implementations raise only :class:`activities.clients.ca.errors.CaError`
    subclasses (for failures to get an answer), never put secrets in messages, and never block
    the event loop.

    Attributes:
        name: Short name of this CA instance, used in logs and errors.
    """

    name: str

    async def submit(self, csr_pem: str, profile: CaProfile) -> CaSubmission:
        """Send a CSR to the CA.

        Args:
            csr_pem: The PKCS#10 CSR generated on the publisher, PEM.
            profile: Issuance parameters (template, validity).

        Returns:
            ``issued`` with the certificate and chain, ``pending`` with a reference to poll,
            or ``denied`` with the CA's reason.

        Raises:
            CaUnavailable: The CA cannot be reached now; retry later.
            CaProtocolError: The CA's answer could not be understood.
        """
        ...

    async def poll(self, request_ref: str, csr_pem: str | None = None) -> CaSubmission:
        """Ask the CA about an earlier request.

        Args:
            request_ref: The reference returned by :meth:`submit`.
            csr_pem: The CSR that was submitted, as the renewal carries it, so that any
                worker can finish a request another one began (ACME finalizes with it);
                None from renewals started before it was carried.

        Returns:
            The request's current state.

        Raises:
            CaRequestNotFound: The CA does not know this reference.
            CaUnavailable: The CA cannot be reached now; retry later.
        """
        ...
