"""The administration login page of a node: the last step of Cisco's renewal procedure.

After the restarts an administrator browses ``https://<fqdn>:8443/ccmadmin`` on every node and
sees the login page over the new certificate. :func:`fetch_login_page` does the same over a
verifying TLS connection (the inventory's CA file and the new root; SNI and hostname check on
the FQDN): it follows the application's redirects on the node itself, then checks that the
page is a login form (``j_security_check`` with a password field), and reports the certificate
the connection was served, so the caller can compare it with the uploaded one. Page markers
and paths live in :mod:`activities.clients.cucm.inferred`.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from activities.clients.cucm import inferred
from activities.clients.cucm.backoff import retry_after_of
from activities.clients.cucm.errors import CucmLoginPageError
from activities.clients.cucm.transport import HttpsClient, NodeEndpoint


@dataclass(frozen=True)
class LoginPage:
    """A login page a node served.

    Attributes:
        path: Where the form was found, after the redirects.
        title: The page's HTML title.
        served_fingerprint: SHA-256 of the certificate of the connection (lower-case hex);
            None when the TLS layer did not expose it.
    """

    path: str
    title: str
    served_fingerprint: str | None


def admin_login_path(product: str) -> str:
    """The administration page of a node of ``product``: /ccmadmin/ (CUCM), /cupadmin/ (IM&P)."""
    return inferred.ADMIN_LOGIN_PATH.get(product, inferred.ADMIN_LOGIN_PATH["cucm"])


def _peer_fingerprint(resp: httpx.Response) -> str | None:
    stream = resp.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None


def _excerpt(text: str) -> str:
    title = inferred.HTML_TITLE_RE.search(text)
    if title:
        return f"titled {title['title'].strip()!r}"
    words = " ".join(text.split())
    return repr(words[:80] + ("…" if len(words) > 80 else "")) if words else "an empty page"


async def fetch_login_page(endpoint: NodeEndpoint, port: int, path: str) -> LoginPage:
    """GET ``path`` on the node and check it is a login page.

    Redirects are followed while they stay on the node (at most
    ``inferred.LOGIN_MAX_REDIRECTS``); no credentials are sent.

    Raises:
        CucmUnreachable: No connection (CucmResponseLost: no answer to the request).
        CucmCertificateUntrusted: The served certificate did not verify (CucmTlsError: the
            handshake failed otherwise).
        CucmLoginPageError: The node answered, but not with a login page: an error status, a
            redirect off the node or too many, or a page without the login form.
    """
    node = endpoint.fqdn
    async with HttpsClient(endpoint, port, None, interface="webadmin") as client:
        current = path
        for _ in range(inferred.LOGIN_MAX_REDIRECTS + 1):
            resp = await client.request("GET", current)
            if resp.is_redirect:
                target = urljoin(f"https://{node}:{port}{current}", resp.headers["location"])
                split = urlsplit(target)
                if (split.hostname or "").lower() != node.lower() or (split.port or 443) != port:
                    raise CucmLoginPageError(
                        f"{path} redirects off the node, to {target}",
                        node=node,
                        status=resp.status_code,
                    )
                current = split.path + (f"?{split.query}" if split.query else "")
                continue
            return _login_page(resp, current, node)
    raise CucmLoginPageError(
        f"{path} redirects more than {inferred.LOGIN_MAX_REDIRECTS} times", node=node
    )


def _login_page(resp: httpx.Response, path: str, node: str) -> LoginPage:
    text = resp.text
    if resp.status_code != 200:
        raise CucmLoginPageError(
            f"{path} answers HTTP {resp.status_code} ({_excerpt(text)}), not its login page",
            node=node,
            status=resp.status_code,
            asked_wait=retry_after_of(resp),
        )
    if not (inferred.LOGIN_FORM_RE.search(text) and inferred.LOGIN_PASSWORD_RE.search(text)):
        raise CucmLoginPageError(
            f"{path} answers HTTP 200 with {_excerpt(text)}, not a login page (no "
            "j_security_check form with a password field)",
            node=node,
            status=200,
        )
    title = inferred.HTML_TITLE_RE.search(text)
    return LoginPage(
        path=path,
        title=title["title"].strip() if title else "",
        served_fingerprint=_peer_fingerprint(resp),
    )
