"""What the key-material guard costs every payload ucrenew encodes.

Every ucrenew client encodes through :func:`workers.converter.make_data_converter`, whose
first codec scans each payload for private key material. Measured here: encoding a small
message (an approval), a submission (a 3-certificate PEM chain) and a large status (200
nodes, with a CSR and the new certificates), with the guard and without it (the plain
pydantic converter), per call.

Run: ``.venv/bin/python -m bench.bench_key_guard``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import BaseModel
from temporalio.contrib.pydantic import pydantic_data_converter

from workers.converter import make_data_converter

ROUNDS = 200


def _cert_pem(cn: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class Small(BaseModel):
    """An approval-sized message."""

    principal: str
    comment: str
    plan_hash: str


class Submission(BaseModel):
    """A certificate and its chain."""

    principal: str
    certificate_pem: str
    chain_pem: str


class Status(BaseModel):
    """A large status: many node rows and a few PEMs."""

    csr_pem: str
    certificates: list[str]
    nodes: list[dict[str, Any]]


async def _per_call_us(converter: Any, value: BaseModel) -> float:
    await converter.encode([value])
    start = time.perf_counter()
    for _ in range(ROUNDS):
        await converter.encode([value])
    return (time.perf_counter() - start) / ROUNDS * 1e6


async def main() -> None:
    """Print the per-call encode time with and without the guard."""
    pems = [_cert_pem(f"c{i}.example.com") for i in range(3)]
    cases: dict[str, BaseModel] = {
        "approval": Small(principal="pat", comment="CAB-1234 ok", plan_hash="ab" * 32),
        "submission (3 certs)": Submission(
            principal="pat", certificate_pem=pems[0], chain_pem=pems[1] + pems[2]
        ),
        "status (200 nodes, 4 PEMs)": Status(
            csr_pem=pems[0].replace("CERTIFICATE", "CERTIFICATE REQUEST"),
            certificates=pems,
            nodes=[
                {"fqdn": f"cucm-{i}.example.com", "phase": "done", "serial": f"{i:040x}"}
                for i in range(200)
            ],
        ),
    }
    plain = dataclasses.replace(pydantic_data_converter)
    guarded = make_data_converter()
    print(f"{'payload':<28} {'bytes':>8} {'plain µs':>10} {'guarded µs':>11} {'extra µs':>9}")
    for name, value in cases.items():
        size = len((await plain.encode([value]))[0].data)
        a = await _per_call_us(plain, value)
        b = await _per_call_us(guarded, value)
        print(f"{name:<28} {size:>8} {a:>10.1f} {b:>11.1f} {b - a:>9.1f}")


if __name__ == "__main__":
    asyncio.run(main())
