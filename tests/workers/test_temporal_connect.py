"""What the ``UCRENEW_TEMPORAL_*`` settings turn into for ``Client.connect``, and the errors
for settings that cannot work, before any connection is tried.

The connections themselves (TLS, mTLS, API key against a secured frontend) are in
tests/e2e/test_temporal_tls_e2e.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from tests.temporal_front import Pki, make_pki
from workers.settings import UcrenewSettings
from workers.temporal_connect import TemporalConnectError, _failed, connect_options

API_KEY = "tc-secret-api-key-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA with server and client certificates."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls(options_tls: TLSConfig | bool) -> TLSConfig:
    assert isinstance(options_tls, TLSConfig), options_tls
    return options_tls


def test_default_is_plaintext_without_credentials() -> None:
    """The embedded dev stack's settings: plaintext, no key, no extra headers."""
    options = connect_options(UcrenewSettings())
    assert options.tls is False
    assert options.api_key is None
    assert options.rpc_metadata == {}
    assert options.kwargs()["target_host"] == "127.0.0.1:7233"


def test_ca_file_and_server_name_turn_tls_on(pki: Pki) -> None:
    """A CA file alone enables TLS; its bytes and the server name go to the TLS config."""
    options = connect_options(
        UcrenewSettings(
            temporal_address="10.0.0.5:7233",
            temporal_tls_ca_file=pki.ca,
            temporal_tls_server_name="temporal.example.net",
        )
    )
    tls = _tls(options.tls)
    assert tls.server_root_ca_cert == pki.ca.read_bytes()
    assert tls.domain == "temporal.example.net"
    assert tls.client_cert is None
    assert "(TLS)" in options.describe()


def test_tls_true_alone_uses_the_system_trust() -> None:
    """``UCRENEW_TEMPORAL_TLS=true`` without a CA file: TLS with the system's roots, as for
    Temporal Cloud."""
    tls = _tls(connect_options(UcrenewSettings(temporal_tls=True)).tls)
    assert tls.server_root_ca_cert is None
    assert tls.client_cert is None


def test_client_certificate_and_key_by_reference(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """mTLS: the certificate from a ``file:`` reference, the key from an ``env:`` one."""
    monkeypatch.setenv("TC_CLIENT_KEY", pki.client_key.read_text())
    options = connect_options(
        UcrenewSettings(
            temporal_tls_ca_file=pki.ca,
            temporal_tls_client_cert_ref=f"file:{pki.client_cert}",
            temporal_tls_client_key_ref="env:TC_CLIENT_KEY",
        )
    )
    tls = _tls(options.tls)
    assert tls.client_cert is not None
    assert tls.client_private_key is not None
    assert tls.client_cert.strip() == pki.client_cert.read_bytes().strip()
    assert tls.client_private_key.strip() == pki.client_key.read_bytes().strip()
    assert "(mTLS)" in options.describe()


def test_api_key_by_reference_turns_tls_on_and_never_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API key is resolved, sent with the namespace header, needs TLS, and stays out of
    ``repr`` and ``describe``."""
    monkeypatch.setenv("TC_API_KEY", API_KEY)
    options = connect_options(
        UcrenewSettings(temporal_api_key_ref="env:TC_API_KEY", namespace="prod.a1b2c")
    )
    assert options.api_key == API_KEY
    assert options.rpc_metadata == {"temporal-namespace": "prod.a1b2c"}
    assert isinstance(options.tls, TLSConfig)
    assert API_KEY not in repr(options)
    assert API_KEY not in options.describe()


def test_namespace_argument_wins_over_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``admin init --namespace`` connects to, and names in the header, the namespace given."""
    monkeypatch.setenv("TC_API_KEY", API_KEY)
    options = connect_options(UcrenewSettings(temporal_api_key_ref="env:TC_API_KEY"), "other")
    assert options.namespace == "other"
    assert options.rpc_metadata["temporal-namespace"] == "other"


def test_a_literal_api_key_is_refused_without_being_repeated() -> None:
    """A key pasted where its reference belongs is refused, and the error does not echo it."""
    with pytest.raises(ValidationError) as caught:
        UcrenewSettings(temporal_api_key_ref=API_KEY)
    assert "env:NAME" in str(caught.value)
    assert API_KEY not in str(caught.value)


def test_a_reference_that_does_not_resolve_names_the_setting() -> None:
    """An unset variable: the error names the reference and the setting to fix."""
    with pytest.raises(TemporalConnectError) as caught:
        connect_options(UcrenewSettings(temporal_api_key_ref="env:TC_NOT_SET_ANYWHERE"))
    message = str(caught.value)
    assert "UCRENEW_TEMPORAL_API_KEY_REF" in message
    assert "TC_NOT_SET_ANYWHERE is not set" in message


@pytest.mark.parametrize(
    ("make_path", "expected"),
    [
        (lambda tmp: tmp / "missing.pem", "does not exist"),
        (lambda tmp: tmp, "cannot read"),
    ],
    ids=["missing", "directory"],
)
def test_an_unreadable_ca_file_is_a_clear_error(
    tmp_path: Path, make_path: object, expected: str
) -> None:
    """A CA file that is missing or not a file: one message with the path and the setting."""
    path = make_path(tmp_path)  # type: ignore[operator]
    with pytest.raises(TemporalConnectError) as caught:
        connect_options(UcrenewSettings(temporal_tls_ca_file=path))
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert "UCRENEW_TEMPORAL_TLS_CA_FILE" in str(caught.value)


def test_a_ca_file_without_a_certificate_is_refused(tmp_path: Path) -> None:
    """A CA file that holds no PEM certificate (a key, a DER file) is refused by name."""
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate\n")
    with pytest.raises(TemporalConnectError, match="holds no PEM certificate"):
        connect_options(UcrenewSettings(temporal_tls_ca_file=path))


def test_client_key_that_is_not_pem_is_refused_without_its_content(
    pki: Pki, tmp_path: Path
) -> None:
    """The key reference holds something else: the error names the reference, not what the
    file holds."""
    key = tmp_path / "key.pem"
    key.write_text("hunter2-not-a-key")
    with pytest.raises(TemporalConnectError) as caught:
        connect_options(
            UcrenewSettings(
                temporal_tls_client_cert_ref=f"file:{pki.client_cert}",
                temporal_tls_client_key_ref=f"file:{key}",
            )
        )
    assert "not a PEM private key" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("given", ["cert", "key"])
def test_certificate_and_key_come_together(pki: Pki, given: str) -> None:
    """Half an mTLS pair names the missing half."""
    fields = (
        {"temporal_tls_client_cert_ref": f"file:{pki.client_cert}"}
        if given == "cert"
        else {"temporal_tls_client_key_ref": f"file:{pki.client_key}"}
    )
    missing = "KEY_REF" if given == "cert" else "CERT_REF"
    with pytest.raises(TemporalConnectError, match=f"UCRENEW_TEMPORAL_TLS_CLIENT_{missing} is not"):
        connect_options(UcrenewSettings(**fields))


def test_tls_off_contradicting_tls_settings_is_refused(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``UCRENEW_TEMPORAL_TLS=false`` with a CA file or an API key: refused, never a key sent
    in plaintext."""
    with pytest.raises(TemporalConnectError, match="UCRENEW_TEMPORAL_TLS_CA_FILE"):
        connect_options(UcrenewSettings(temporal_tls=False, temporal_tls_ca_file=pki.ca))
    monkeypatch.setenv("TC_API_KEY", API_KEY)
    with pytest.raises(TemporalConnectError, match="only ever sent over TLS"):
        connect_options(UcrenewSettings(temporal_tls=False, temporal_api_key_ref="env:TC_API_KEY"))


def test_settings_come_from_the_environment(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented variable names are the ones read."""
    monkeypatch.setenv("UCRENEW_TEMPORAL_TLS", "true")
    monkeypatch.setenv("UCRENEW_TEMPORAL_TLS_CA_FILE", str(pki.ca))
    monkeypatch.setenv("UCRENEW_TEMPORAL_TLS_SERVER_NAME", "localhost")
    monkeypatch.setenv("UCRENEW_TEMPORAL_TLS_CLIENT_CERT_REF", f"file:{pki.client_cert}")
    monkeypatch.setenv("UCRENEW_TEMPORAL_TLS_CLIENT_KEY_REF", f"file:{pki.client_key}")
    monkeypatch.setenv("UCRENEW_TEMPORAL_API_KEY_REF", "env:TC_API_KEY")
    monkeypatch.setenv("TC_API_KEY", API_KEY)
    s = UcrenewSettings()
    tls = _tls(connect_options(s).tls)
    assert tls.domain == "localhost"
    assert tls.client_cert is not None
    assert connect_options(s).api_key == API_KEY


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("UCRENEW_")}
    full.update(env)
    return subprocess.run(args, env=full, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("program", ["cli", "worker"])
def test_a_literal_key_in_the_environment_is_one_line_without_the_key(
    program: str, tmp_path: Path
) -> None:
    """``UCRENEW_TEMPORAL_API_KEY_REF`` holding the key itself: the CLI and the worker each
    exit 1 with one ``error:`` line naming the variable, without a traceback or the key."""
    args = (
        [str(Path(sys.executable).parent / "ucrenew"), "admin", "init"]
        if program == "cli"
        else [sys.executable, "-m", "workers"]
    )
    result = _run(
        args,
        UCRENEW_STATE_DIR=str(tmp_path / "state"),
        UCRENEW_TEMPORAL_API_KEY_REF=API_KEY,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: invalid settings: UCRENEW_TEMPORAL_API_KEY_REF: ")
    assert result.stderr.count("\n") == 1
    assert API_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["connection closed", "Connection reset by peer", "Broken pipe"])
def test_a_closed_connection_is_read_by_what_was_offered(pki: Pki, how: str) -> None:
    """The client reports a server that hangs up in several words, depending on timing: each
    one still points plaintext at TLS and a certificate-less TLS client at mTLS, never at the
    address (which answered)."""
    err = RuntimeError(f"Failed client connect: get_system_info call error: {how}")
    plain = _failed(connect_options(UcrenewSettings()), err)
    assert "UCRENEW_TEMPORAL_TLS=true" in str(plain) and not plain.unreachable
    tls = _failed(connect_options(UcrenewSettings(temporal_tls_ca_file=pki.ca)), err)
    assert "UCRENEW_TEMPORAL_TLS_CLIENT_CERT_REF" in str(tls) and not tls.unreachable


def test_nothing_listening_is_unreachable() -> None:
    """A refused TCP connection is the one case reported as unreachable (CLI exit 5)."""
    err = RuntimeError("Failed client connect: tcp connect error: Connection refused")
    assert _failed(connect_options(UcrenewSettings()), err).unreachable
