"""ACME backend against a real ACME server (Debian's pebble) and a small fake for edge cases.

Pebble and pebble-challtestsrv run once per session on free loopback ports, with a TLS
certificate generated here (no key is committed). Pebble keeps its default 5% badNonce
rejection, so the client's nonce retries are exercised; ``PEBBLE_VA_NOSLEEP`` removes the
random validation delay and ``PEBBLE_AUTHZREUSE=100`` makes authorization reuse
deterministic (tests use names of their own unless they test reuse).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import ipaddress
import json
import logging
import re
import secrets
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from acme import challenges, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from activities.clients.ca.acme.backend import AcmeCa, dns01_challenge
from activities.clients.ca.acme.hooks import CommandDnsHook
from activities.clients.ca.acme.state import AcmeState, Challenge, OrderRecord
from activities.clients.ca.acme.wire import parse_retry_after
from activities.clients.ca.base import CertificateAuthority
from activities.clients.ca.errors import (
    CaConfigurationError,
    CaProtocolError,
    CaRequestNotFound,
    CaUnavailable,
)
from activities.clients.pki import load_pem_certificates, public_key_fingerprint
from activities.models import CaProfile, CaSubmission
from tests.ca.challtestsrv import ChallTestSrvDnsHook, dns_hook_argv
from tests.ca.pebble import Pebble
from workers.devserver import free_loopback_port

POLL_INTERVAL = 0.2
MAX_POLLS = 50


# --- helpers ---------------------------------------------------------------------------------


def node_names(count: int = 4) -> list[str]:
    """Node FQDNs of a fresh cluster (a tag of their own, so pebble reuses no authorization)."""
    tag = secrets.token_hex(3)
    roles = ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub", "imp-sub1", "cucm-tftp"]
    return [f"{roles[i]}-{tag}.lab.example.com" for i in range(count)]


def make_csr(names: list[str], ips: Sequence[str] = ()) -> tuple[str, str]:
    """A CUCM-like multi-server CSR (RSA 2048, CN = first node, every node and IP in SAN)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example UC Lab"),
                    x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                ]
            )
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode(), public_key_fingerprint(csr)


@dataclass
class RecordingDnsHook:
    """Wraps a DNS hook, records calls, and can publish a wrong value on purpose."""

    inner: Any
    corrupt: bool = False
    presented: list[tuple[str, str]] = field(default_factory=list)
    cleaned: list[tuple[str, str]] = field(default_factory=list)

    async def present(self, domain: str, validation: str) -> None:
        self.presented.append((domain, validation))
        await self.inner.present(domain, "wrong-value" if self.corrupt else validation)

    async def cleanup(self, domain: str, validation: str) -> None:
        self.cleaned.append((domain, validation))
        await self.inner.cleanup(domain, validation)


def acme_ca(pebble: Pebble, state_dir: Path, **kwargs: Any) -> AcmeCa:
    kwargs.setdefault("dns_hook", ChallTestSrvDnsHook(pebble.challtestsrv_url))
    kwargs.setdefault("root_pem", pebble.root_pem)
    return AcmeCa(
        pebble.directory_url,
        state_dir=state_dir,
        contact_email="pki-team@example.com",
        ca_bundle=pebble.ca_bundle,
        poll_interval=POLL_INTERVAL,
        timeout=10,
        **kwargs,
    )


def account_log(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """``(created|using, account URL)`` for each account lookup the backend logged, in order."""
    found = (
        re.search(r": (created|using) ACME account (\S+)$", r.getMessage()) for r in caplog.records
    )
    return [(m[1], m[2]) for m in found if m]


async def poll_until_done(ca: AcmeCa, first: CaSubmission) -> tuple[CaSubmission, int]:
    """Poll as a workflow would: sleep the suggested Retry-After between polls."""
    answer, polls = first, 0
    while answer.status == "pending":
        assert answer.retry_after_seconds is not None and answer.retry_after_seconds > 0
        assert polls < MAX_POLLS, "order never left pending"
        await asyncio.sleep(answer.retry_after_seconds)
        answer = await ca.poll(answer.request_ref)
        polls += 1
    return answer, polls


def assert_chain_to_root(
    answer: CaSubmission, pebble: Pebble, names: list[str], key_fp: str
) -> None:
    assert answer.status == "issued"
    assert answer.certificate_pem and answer.chain_pem
    leaf = x509.load_pem_x509_certificate(answer.certificate_pem.encode())
    chain = load_pem_certificates(answer.chain_pem)
    root = x509.load_pem_x509_certificate(pebble.root_pem.encode())
    intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem.encode())
    assert public_key_fingerprint(leaf) == key_fp
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
    assert chain == [intermediate, root]
    for child, issuer in zip([leaf, *chain], chain, strict=False):
        child.verify_directly_issued_by(issuer)


# --- issuance through pebble -----------------------------------------------------------------


async def test_dns01_four_sans_pending_then_issued_chain_to_pebble_root(
    pebble: Pebble, tmp_path: Path
) -> None:
    names = node_names(4)
    csr_pem, key_fp = make_csr(names)
    hook = RecordingDnsHook(ChallTestSrvDnsHook(pebble.challtestsrv_url))
    ca = acme_ca(pebble, tmp_path / "acme", dns_hook=hook)
    assert isinstance(ca, CertificateAuthority)

    first = await ca.submit(csr_pem, CaProfile())

    assert first.status == "pending", first.message
    assert first.request_ref.startswith(pebble.directory_url.removesuffix("/dir"))
    # Pebble sends no Retry-After on orders, so the configured interval is suggested.
    assert first.retry_after_seconds == POLL_INTERVAL
    assert sorted(d for d, _ in hook.presented) == sorted(names)
    answer, polls = await poll_until_done(ca, first)
    assert_chain_to_root(answer, pebble, names, key_fp)
    assert 1 <= polls <= 10
    assert sorted(hook.cleaned) == sorted(hook.presented)
    assert list((tmp_path / "acme" / "orders").iterdir()) == []
    assert stat.S_IMODE((tmp_path / "acme" / "account.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "acme").stat().st_mode) == 0o700


async def test_poll_again_after_issuance_returns_the_certificate(
    pebble: Pebble, tmp_path: Path
) -> None:
    names = node_names(2)
    csr_pem, key_fp = make_csr(names)
    ca = acme_ca(pebble, tmp_path / "acme")
    issued, _ = await poll_until_done(ca, await ca.submit(csr_pem, CaProfile()))

    again = await ca.poll(issued.request_ref)

    assert again.status == "issued"
    assert again.certificate_pem == issued.certificate_pem
    assert_chain_to_root(again, pebble, names, key_fp)


async def test_without_root_pem_chain_is_intermediates_only(pebble: Pebble, tmp_path: Path) -> None:
    names = node_names(1)
    csr_pem, _ = make_csr(names)
    ca = acme_ca(pebble, tmp_path / "acme", root_pem=None)

    answer, _ = await poll_until_done(ca, await ca.submit(csr_pem, CaProfile()))

    assert answer.status == "issued" and answer.chain_pem
    assert load_pem_certificates(answer.chain_pem) == [
        x509.load_pem_x509_certificate(pebble.intermediate_pem.encode())
    ]


async def test_wrong_txt_record_is_denied_with_problem_detail(
    pebble: Pebble, tmp_path: Path
) -> None:
    names = node_names(1)
    csr_pem, _ = make_csr(names)
    hook = RecordingDnsHook(ChallTestSrvDnsHook(pebble.challtestsrv_url), corrupt=True)
    ca = acme_ca(pebble, tmp_path / "acme", dns_hook=hook)

    first = await ca.submit(csr_pem, CaProfile())
    answer, _ = await poll_until_done(ca, first)

    assert answer.status == "denied"
    assert answer.request_ref == first.request_ref
    assert names[0] in answer.message
    assert "unauthorized" in answer.message or "incorrectResponse" in answer.message
    assert answer.certificate_pem is None
    assert hook.cleaned == hook.presented


async def test_second_instance_reuses_account_and_polls_first_instances_order(
    pebble: Pebble, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="activities.clients.ca")
    names = node_names(2)
    csr_pem, key_fp = make_csr(names)
    state = tmp_path / "acme"
    first_ca = acme_ca(pebble, state)
    pending = await first_ca.submit(csr_pem, CaProfile())
    assert pending.status == "pending"
    key_before = (state / "account.key").read_bytes()

    # A restarted worker: a new instance on the same state directory.
    second_ca = acme_ca(pebble, state)
    answer, _ = await poll_until_done(second_ca, pending)

    [(created, account_url), *reused] = account_log(caplog)
    assert created == "created" and reused == [("using", account_url)]
    assert (state / "account.key").read_bytes() == key_before
    assert_chain_to_root(answer, pebble, names, key_fp)

    # The same key given by secret reference finds the same account from another directory.
    by_ref = acme_ca(pebble, tmp_path / "other", account_key_ref=f"file:{state / 'account.key'}")
    again = await by_ref.poll(pending.request_ref)
    assert again.status == "issued"
    assert account_log(caplog)[-1] == ("using", account_url)
    assert not (tmp_path / "other" / "account.key").exists()


async def test_another_accounts_order_is_refused(pebble: Pebble, tmp_path: Path) -> None:
    csr_pem, _ = make_csr(node_names(1))
    pending = await acme_ca(pebble, tmp_path / "a").submit(csr_pem, CaProfile())

    with pytest.raises(CaConfigurationError):
        await acme_ca(pebble, tmp_path / "b").poll(pending.request_ref)


async def test_already_valid_authorizations_skip_challenges(pebble: Pebble, tmp_path: Path) -> None:
    names = node_names(3)
    csr_pem, _ = make_csr(names)
    ca = acme_ca(pebble, tmp_path / "acme")
    await poll_until_done(ca, await ca.submit(csr_pem, CaProfile()))

    # A renewal with a new CSR for the same nodes: pebble (AUTHZREUSE=100) reuses the valid
    # authorizations, so the order is ready at once and submit finalizes it.
    hook = RecordingDnsHook(ChallTestSrvDnsHook(pebble.challtestsrv_url))
    renew_csr, renew_fp = make_csr(names)
    ca_again = acme_ca(pebble, tmp_path / "acme", dns_hook=hook)
    first = await ca_again.submit(renew_csr, CaProfile())

    assert hook.presented == []
    assert first.status == "issued" or "issuing" in first.message, first
    answer, _ = await poll_until_done(ca_again, first)
    assert_chain_to_root(answer, pebble, names, renew_fp)


async def test_authorization_without_dns01_is_refused_before_any_record_is_published(
    pebble: Pebble, tmp_path: Path
) -> None:
    # Pebble offers no dns-01 for an IP identifier (only http-01 and tls-alpn-01).
    csr_pem, _ = make_csr(node_names(1), ips=["192.0.2.10"])
    hook = RecordingDnsHook(ChallTestSrvDnsHook(pebble.challtestsrv_url))
    ca = acme_ca(pebble, tmp_path / "acme", dns_hook=hook)

    with pytest.raises(CaConfigurationError) as info:
        await ca.submit(csr_pem, CaProfile())

    message = info.value.message
    assert "no dns-01 challenge for 192.0.2.10" in message
    assert "(offered: http-01, tls-alpn-01)" in message
    assert "dns-01 only" in message
    assert hook.presented == []
    assert list((tmp_path / "acme" / "orders").iterdir()) == []


async def test_without_dns_hook_a_pending_authorization_is_a_configuration_error(
    pebble: Pebble, tmp_path: Path
) -> None:
    csr_pem, _ = make_csr(node_names(1))
    ca = acme_ca(pebble, tmp_path / "acme", dns_hook=None)

    with pytest.raises(CaConfigurationError, match="no DNS hook is configured"):
        await ca.submit(csr_pem, CaProfile())


async def test_command_dns_hook_script_writes_to_challtestsrv(
    pebble: Pebble, tmp_path: Path
) -> None:
    log = tmp_path / "hook.log"
    hook = CommandDnsHook(dns_hook_argv(pebble.challtestsrv_url, log))
    names = node_names(2)
    csr_pem, key_fp = make_csr(names)
    ca = acme_ca(pebble, tmp_path / "acme", dns_hook=hook)

    answer, _ = await poll_until_done(ca, await ca.submit(csr_pem, CaProfile()))

    assert_chain_to_root(answer, pebble, names, key_fp)
    lines = sorted(log.read_text().splitlines())
    assert lines == sorted([f"present {n}" for n in names] + [f"cleanup {n}" for n in names])


async def test_unknown_order_url_is_not_found(pebble: Pebble, tmp_path: Path) -> None:
    ca = acme_ca(pebble, tmp_path / "acme")
    base = pebble.directory_url.removesuffix("/dir")

    with pytest.raises(CaRequestNotFound):
        await ca.poll(f"{base}/my-order/does-not-exist")
    with pytest.raises(CaRequestNotFound):
        await ca.poll("12345")


async def test_unreadable_csr_is_denied_without_an_order(pebble: Pebble, tmp_path: Path) -> None:
    ca = acme_ca(pebble, tmp_path / "acme")

    answer = await ca.submit("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", CaProfile())

    assert answer.status == "denied" and "CSR" in answer.message
    assert not (tmp_path / "acme").exists()


async def test_untrusted_server_certificate_is_a_configuration_error(
    pebble: Pebble, tmp_path: Path
) -> None:
    ca = AcmeCa(pebble.directory_url, state_dir=tmp_path / "acme", timeout=5)

    with pytest.raises(CaConfigurationError, match="TLS"):
        await ca.submit(make_csr(node_names(1))[0], CaProfile())


async def test_unreachable_directory_is_unavailable(tmp_path: Path) -> None:
    port = free_loopback_port()  # nothing listens there
    ca = AcmeCa(f"https://127.0.0.1:{port}/dir", state_dir=tmp_path / "acme", timeout=5)

    with pytest.raises(CaUnavailable) as info:
        await ca.submit(make_csr(["cucm-pub.lab.example.com"])[0], CaProfile())
    assert info.value.ca == "acme"


# --- CommandDnsHook failure modes ------------------------------------------------------------


async def test_command_dns_hook_failures(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('secret-in-output'); exit(3)"]
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]

    with pytest.raises(CaConfigurationError, match="exited 3") as info:
        await CommandDnsHook(failing).present("cucm-pub.lab.example.com", "v")
    assert "secret-in-output" not in info.value.message

    started = time.monotonic()
    with pytest.raises(CaUnavailable, match="within"):
        await CommandDnsHook(slow, timeout=0.5).cleanup("cucm-pub.lab.example.com", "v")
    assert time.monotonic() - started < 10

    with pytest.raises(CaConfigurationError, match="cannot be run"):
        await CommandDnsHook([str(tmp_path / "missing")]).present("a.example.com", "v")


# --- pure helpers ----------------------------------------------------------------------------

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _authorization(*challs: challenges.Challenge) -> messages.Authorization:
    return messages.Authorization(
        identifier=messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="cucm-pub.example.com"),
        challenges=[
            messages.ChallengeBody(chall=c, uri=f"https://acme.example/chall/{i}")
            for i, c in enumerate(challs)
        ],
    )


def test_dns01_is_the_challenge_chosen() -> None:
    token = b"t" * 16
    authz = _authorization(challenges.HTTP01(token=token), challenges.DNS01(token=token))

    assert isinstance(dns01_challenge(authz, "corp-acme").chall, challenges.DNS01)


def test_authorization_offering_only_http01_is_refused() -> None:
    authz = _authorization(challenges.HTTP01(token=b"t" * 16))

    with pytest.raises(CaConfigurationError) as info:
        dns01_challenge(authz, "corp-acme")

    assert info.value.ca == "corp-acme"
    assert info.value.message == (
        "corp-acme: the ACME server offers no dns-01 challenge for cucm-pub.example.com "
        "(offered: http-01); ucrenew validates by dns-01 only, because CUCM and IM&P nodes "
        "cannot serve http-01 or tls-alpn-01 tokens (their ports 80 and 443 are Cisco Tomcat); "
        "the CA must offer dns-01 for this name"
    )


def test_order_record_of_an_earlier_release_still_loads(tmp_path: Path) -> None:
    # Records written before dns-01 became the only challenge also carry kind and token.
    state = AcmeState(tmp_path, "corp-acme")
    url = "https://acme.example/order/1"
    state.save(OrderRecord(url, "CSR"))
    [path] = (tmp_path / "orders").iterdir()
    old = {"kind": "dns-01", "domain": "cucm-pub.example.com", "token": "", "validation": "v"}
    path.write_text(json.dumps({"order_url": url, "csr_pem": "CSR", "challenges": [old]}))

    record = state.load(url)

    assert record is not None
    assert record.challenges == [Challenge("cucm-pub.example.com", "v")]


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", NOW) == 90.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("soon", NOW) is None


# --- a scripted fake ACME server for answers pebble never gives ------------------------------

Route = Callable[[str, bytes], tuple[int, dict[str, str], bytes]]


class FakeAcme:
    """A plain-HTTP ACME stand-in: routes by path, records requests, checks no signature."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path))
                route = fake.routes.get(self.path)
                status, headers, payload = (
                    route(self.command, body) if route else (404, {}, b"not found")
                )
                self.send_response(status)
                self.send_header("Replay-Nonce", secrets.token_urlsafe(12))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.json_route("/dir", 200, self.directory())
        self.routes["/nonce"] = lambda method, body: (200, {}, b"")
        self.routes["/acct"] = lambda method, body: (
            200,
            {"Location": f"{self.base}/acct/1", "Content-Type": "application/json"},
            json.dumps({"status": "valid"}).encode(),
        )

    def directory(self, **extra: str) -> dict[str, str]:
        return {
            "newNonce": f"{self.base}/nonce",
            "newAccount": f"{self.base}/acct",
            "newOrder": f"{self.base}/new-order",
            **extra,
        }

    def json_route(
        self, path: str, status: int, body: object, headers: dict[str, str] | None = None
    ) -> None:
        ctype = "application/json" if status < 400 else "application/problem+json"
        payload = json.dumps(body).encode()
        self.routes[path] = lambda method, _: (
            status,
            {"Content-Type": ctype, **(headers or {})},
            payload,
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_acme() -> Iterator[FakeAcme]:
    server = FakeAcme()
    try:
        yield server
    finally:
        server.close()


async def test_processing_order_suggests_the_servers_retry_after(
    fake_acme: FakeAcme, tmp_path: Path
) -> None:
    order = {
        "status": "processing",
        "identifiers": [{"type": "dns", "value": "cucm-pub.lab.example.com"}],
        "authorizations": [],
        "finalize": f"{fake_acme.base}/finalize/1",
    }
    fake_acme.json_route("/order/1", 200, order, {"Retry-After": "7"})
    ca = AcmeCa(f"{fake_acme.base}/dir", state_dir=tmp_path / "acme", poll_interval=30)

    answer = await ca.poll(f"{fake_acme.base}/order/1")

    assert answer.status == "pending"
    assert answer.retry_after_seconds == 7
    assert ("POST", "/order/1") in fake_acme.requests


async def test_rate_limited_new_order_is_unavailable_with_retry_after(
    fake_acme: FakeAcme, tmp_path: Path
) -> None:
    problem = {"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many orders"}
    fake_acme.json_route("/new-order", 429, problem, {"Retry-After": "120"})
    ca = AcmeCa(f"{fake_acme.base}/dir", state_dir=tmp_path / "acme")

    with pytest.raises(CaUnavailable) as info:
        await ca.submit(make_csr(["cucm-pub.lab.example.com"])[0], CaProfile())

    assert info.value.retry_after == 120
    assert info.value.http_status == 429
    assert "too many orders" in info.value.message


async def test_server_errors_and_garbage_map_to_the_error_tree(
    fake_acme: FakeAcme, tmp_path: Path
) -> None:
    ca = AcmeCa(f"{fake_acme.base}/dir", state_dir=tmp_path / "acme")
    fake_acme.routes["/dir"] = lambda method, body: (503, {"Retry-After": "30"}, b"down")
    with pytest.raises(CaUnavailable) as info:
        await ca.poll(f"{fake_acme.base}/order/1")
    assert info.value.http_status == 503 and info.value.retry_after == 30

    fake_acme.routes["/dir"] = lambda method, body: (200, {"Content-Type": "text/html"}, b"<x>")
    with pytest.raises(CaProtocolError):
        await ca.poll(f"{fake_acme.base}/order/1")

    fake_acme.json_route("/dir", 200, fake_acme.directory())
    problem = {"type": "urn:ietf:params:acme:error:unauthorized", "detail": "account revoked"}
    fake_acme.json_route("/acct", 403, problem)
    with pytest.raises(CaConfigurationError, match="account revoked"):
        await ca.poll(f"{fake_acme.base}/order/1")


async def test_repeated_bad_nonce_is_retried_then_reported_unavailable(
    fake_acme: FakeAcme, tmp_path: Path
) -> None:
    order = {"status": "processing", "authorizations": [], "finalize": f"{fake_acme.base}/f"}
    bad_nonce = json.dumps(
        {"type": "urn:ietf:params:acme:error:badNonce", "detail": "JWS has an invalid nonce"}
    ).encode()
    calls = {"n": 0, "fail": 3}

    def order_route(method: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        calls["n"] += 1
        if calls["n"] <= calls["fail"]:
            return 400, {"Content-Type": "application/problem+json"}, bad_nonce
        return 200, {"Content-Type": "application/json"}, json.dumps(order).encode()

    fake_acme.routes["/order/1"] = order_route
    ca = AcmeCa(f"{fake_acme.base}/dir", state_dir=tmp_path / "acme")

    # Three rejections in a row: more than acme's single retry absorbs.
    answer = await ca.poll(f"{fake_acme.base}/order/1")
    assert answer.status == "pending" and calls["n"] == 4

    calls.update(n=0, fail=1000)
    with pytest.raises(CaUnavailable, match="badNonce"):
        await ca.poll(f"{fake_acme.base}/order/1")
    assert calls["n"] == 8
