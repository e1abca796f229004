"""Debian's pebble (ACME test server) and pebble-challtestsrv, run on free loopback ports.

Shared by the ACME backend tests and the end-to-end renewal through ACME. Pebble keeps its
default 5% badNonce rejection, so clients' nonce retries are exercised; ``PEBBLE_VA_NOSLEEP``
removes the random validation delay and ``PEBBLE_AUTHZREUSE=100`` makes authorization reuse
deterministic.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from workers.devserver import free_loopback_port

# --- pebble ----------------------------------------------------------------------------------


@dataclass
class Pebble:
    """A running pebble + challtestsrv pair."""

    directory_url: str
    management_url: str
    challtestsrv_url: str
    ca_bundle: Path
    root_pem: str
    intermediate_pem: str
    log_dir: Path


def _self_signed_tls(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test listener")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.pem", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _wait_listening(port: int, procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"pebble exited early ({proc.args!r}); logs in {logs}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"pebble did not listen on {port} within 20 s; logs in {logs}")


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """pebble and pebble-challtestsrv on free loopback ports for the whole session."""
    pebble_bin, challtestsrv_bin = shutil.which("pebble"), shutil.which("pebble-challtestsrv")
    if pebble_bin is None or challtestsrv_bin is None:
        if os.geteuid() == 0:
            pytest.fail("pebble is not installed: run scripts/bootstrap.sh (installs it as root)")
        pytest.skip("pebble is not installed and this user cannot install it (not root)")
    work = tmp_path_factory.mktemp("pebble")
    cert, key = _self_signed_tls(work)
    acme_port, mgmt_port, dns_port, http_port, tls_port, cts_port = (
        free_loopback_port() for _ in range(6)
    )
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{mgmt_port}",
            "certificate": str(cert),
            "privateKey": str(key),
            # Free ports for the http-01 and tls-alpn-01 validation pebble never gets to do.
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (work / "pebble-config.json").write_text(json.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "100"}
    env.pop("PEBBLE_WFE_NONCEREJECT", None)
    procs: list[subprocess.Popen[bytes]] = []
    with (
        (work / "challtestsrv.log").open("wb") as cts_log,
        (work / "pebble.log").open("wb") as pebble_log,
    ):
        procs.append(
            subprocess.Popen(
                [
                    challtestsrv_bin,
                    "-dns01",
                    f"127.0.0.1:{dns_port}",
                    # ucrenew answers dns-01 only: no http-01 or tls-alpn-01 listeners.
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                    "-management",
                    f"127.0.0.1:{cts_port}",
                ],
                stdout=cts_log,
                stderr=subprocess.STDOUT,
                cwd=work,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    pebble_bin,
                    "-config",
                    str(work / "pebble-config.json"),
                    "-dnsserver",
                    f"127.0.0.1:{dns_port}",
                ],
                stdout=pebble_log,
                stderr=subprocess.STDOUT,
                cwd=work,
                env=env,
            )
        )
    try:
        for port in (cts_port, acme_port, mgmt_port):
            _wait_listening(port, procs, work)
        management_url = f"https://127.0.0.1:{mgmt_port}"
        with httpx.Client(verify=ssl.create_default_context(cafile=cert), timeout=10) as http:
            root_pem = http.get(f"{management_url}/roots/0").raise_for_status().text
            intermediate_pem = http.get(f"{management_url}/intermediates/0").raise_for_status().text
        yield Pebble(
            directory_url=f"https://127.0.0.1:{acme_port}/dir",
            management_url=management_url,
            challtestsrv_url=f"http://127.0.0.1:{cts_port}",
            ca_bundle=cert,
            root_pem=root_pem,
            intermediate_pem=intermediate_pem,
            log_dir=work,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
