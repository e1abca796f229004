"""``ucrenew submit-cert`` refuses a file holding a private key before anything is sent.

The Temporal address points at a closed port: had the command tried to send, it would end
"unreachable" (exit 5); a refusal before sending is a usage error (exit 2) naming the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from console.common import ExitCode
from tests.unit.test_cli_errors import INVENTORY, assert_one_line_error, ucrenew
from workers.devserver import free_loopback_port

KEY = ec.generate_private_key(ec.SECP256R1())
CERT = """-----BEGIN CERTIFICATE-----
MIIBLTCB1KADAgECAgEBMAoGCCqGSM49BAMCMBAxDjAMBgNVBAMMBXRlc3RzMB4X
-----END CERTIFICATE-----
"""


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    inventory = tmp_path / "clusters.yaml"
    inventory.write_text(INVENTORY)
    return {
        "UCRENEW_STATE_DIR": str(tmp_path / "state"),
        "UCRENEW_INVENTORY": str(inventory),
        "UCRENEW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_loopback_port()}",
        "COLUMNS": "200",
    }


def _pem_key() -> bytes:
    return KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("option", "content", "found"),
    [
        ("--cert", CERT.encode() + _pem_key(), "'EC PRIVATE KEY'"),
        (
            "--cert",
            pkcs12.serialize_key_and_certificates(
                b"x", KEY, None, None, serialization.BestAvailableEncryption(b"pw")
            ),
            "PKCS#12 (PFX)",
        ),
        ("--chain", CERT.encode() + _pem_key(), "'EC PRIVATE KEY'"),
    ],
)
def test_a_file_with_a_key_is_refused_before_anything_is_sent(
    cli_env: dict[str, str], tmp_path: Path, option: str, content: bytes, found: str
) -> None:
    cert, chain = tmp_path / "signed.pem", tmp_path / "chain.pem"
    cert.write_text(CERT)
    chain.write_text(CERT)
    (cert if option == "--cert" else chain).write_bytes(content)
    result = ucrenew(
        cli_env, "submit-cert", "CHG1", "--cert", str(cert), "--chain", str(chain), "--by", "pat"
    )
    line = assert_one_line_error(
        result, ExitCode.USAGE, f"{option} {tmp_path}", "private key material", found
    )
    assert "nothing of it was sent" in line and "never leaves" in line
    body = _pem_key().splitlines()[2].decode()
    assert body not in result.output + result.stderr


def test_a_binary_certificate_is_a_usage_error_not_a_traceback(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    der = tmp_path / "signed.der"
    der.write_bytes(b"\x30\x82\x01\x00\xff\xfe" + bytes(range(256)))
    result = ucrenew(cli_env, "submit-cert", "CHG1", "--cert", str(der), "--by", "pat")
    assert_one_line_error(result, ExitCode.USAGE, "is not PEM text")


def test_a_clean_file_goes_on_to_temporal(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The check refuses keys only: a certificate file reaches the (absent) server."""
    cert = tmp_path / "signed.pem"
    cert.write_text(CERT)
    result = ucrenew(cli_env, "submit-cert", "CHG1", "--cert", str(cert), "--by", "pat")
    assert result.exit_code == ExitCode.UNREACHABLE, result.output


def test_a_key_the_converter_refused_is_one_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Any command's text (``approve -m``, ``cancel --reason``) is refused by the converter's
    guard before it is sent: one ``error:`` line, exit 2, the key not repeated."""
    from activities.clients.key_material import KeyMaterialError
    from console.common import fail

    code = fail(KeyMaterialError("a message to Temporal", "a PEM 'EC PRIVATE KEY' block"))
    assert code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: a message to Temporal holds private key material")
    assert "unexpected" not in err
