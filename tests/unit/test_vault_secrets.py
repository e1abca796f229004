"""``vault:`` secret references against a loopback server that speaks Vault's HTTP API.

No Vault binary exists here, so the server implements the documented endpoints ucrenew uses:

* KV v2 "Read secret version", ``GET /v1/:mount/data/:path(?version=N)``, answering
  ``{"data": {"data": {...}, "metadata": {...}}}`` and ``data: null`` for a deleted version
  (https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version);
* Kubernetes auth "Login", ``POST /v1/auth/:mount/login`` with ``{"role", "jwt"}``, answering
  ``{"auth": {"client_token": ...}}``
  (https://developer.hashicorp.com/vault/api-docs/auth/kubernetes#login);
* the token in the ``X-Vault-Token`` header, and the HTTP status codes of
  https://developer.hashicorp.com/vault/api-docs#http-status-codes: 403 for a missing or
  invalid token or a path the policy denies, 404 for an unknown path, 503 when sealed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from activities.clients import vault_secrets
from activities.clients.ca.local import LocalCa
from activities.clients.secrets import SecretRefError, check_secret_ref, resolve_secret_ref
from workers.devserver import free_loopback_port

TOKEN = "s.test-token-1f2e3d"
AXL_PASSWORD = "Axl-Pa55-never-shown"
JWT = "eyJhbGciOiJSUzI1NiJ9.sa-token.sig"


@dataclass
class FakeVault:
    """State of the loopback Vault: secrets by API path, tokens and what each may read."""

    url: str = ""
    sealed: bool = False
    secrets: dict[str, list[dict[str, str] | None]] = field(default_factory=dict)
    tokens: dict[str, set[str]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # role -> jwt it accepts
    logins: int = 0
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


def _handler(vault: FakeVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            token = self.headers.get("X-Vault-Token")
            vault.requests.append(("GET", url.path, token))
            if vault.sealed:
                return self._send(503, {"errors": ["Vault is sealed"]})
            path = url.path.removeprefix("/v1/")
            if token not in vault.tokens or path not in vault.tokens[token]:
                return self._send(403, {"errors": ["permission denied"]})
            versions = vault.secrets.get(path)
            if not versions:
                return self._send(404, {"errors": []})
            wanted = parse_qs(url.query).get("version")
            index = int(wanted[0]) - 1 if wanted else len(versions) - 1
            if not 0 <= index < len(versions):
                return self._send(404, {"errors": []})
            data = versions[index]
            meta = {"version": index + 1, "deletion_time": "" if data else "2026-01-01T00:00:00Z"}
            self._send(200, {"data": {"data": data, "metadata": meta}})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            vault.requests.append(("POST", url.path, None))
            if vault.sealed:
                return self._send(503, {"errors": ["Vault is sealed"]})
            if url.path != "/v1/auth/kubernetes/login":
                return self._send(404, {"errors": []})
            if vault.roles.get(body.get("role")) != body.get("jwt"):
                return self._send(403, {"errors": ["permission denied"]})
            vault.logins += 1
            token = f"s.k8s-login-{vault.logins}"
            vault.tokens[token] = {"secret/data/ucrenew"}
            self._send(200, {"auth": {"client_token": token, "lease_duration": 3600}})

    return Handler


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVault]:
    state = FakeVault(
        secrets={
            "secret/data/ucrenew": [
                {"axl_password": "old-value"},
                {"axl_password": AXL_PASSWORD, "adcs_password": "x"},
            ],
            "secret/data/deleted": [None],
            "secret/data/other-team": [{"password": "theirs"}],
        },
        tokens={TOKEN: {"secret/data/ucrenew", "secret/data/deleted", "secret/data/missing"}},
        roles={"ucrenew-worker": JWT},
    )
    server = ThreadingHTTPServer(("127.0.0.1", free_loopback_port()), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in (
        "VAULT_CACERT",
        "VAULT_NAMESPACE",
        "UCRENEW_VAULT_TOKEN_REF",
        "UCRENEW_VAULT_K8S_ROLE",
        "UCRENEW_VAULT_K8S_MOUNT",
        "UCRENEW_VAULT_K8S_JWT_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAULT_ADDR", state.url)
    monkeypatch.setattr(vault_secrets, "_sessions", {})
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def with_token(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> FakeVault:
    monkeypatch.setenv("TEST_VAULT_TOKEN", TOKEN)
    monkeypatch.setenv("UCRENEW_VAULT_TOKEN_REF", "env:TEST_VAULT_TOKEN")
    return vault


def refused(ref: str) -> str:
    with pytest.raises(SecretRefError) as err:
        resolve_secret_ref(ref)
    message = str(err.value)
    assert ref in message
    for secret in (AXL_PASSWORD, TOKEN, JWT, "old-value", "theirs"):
        assert secret not in message
    return message


def test_a_key_of_a_kv2_secret_is_read_with_a_token_by_reference(with_token: FakeVault) -> None:
    assert resolve_secret_ref("vault:secret/data/ucrenew#axl_password") == AXL_PASSWORD
    assert with_token.requests[-1] == ("GET", "/v1/secret/data/ucrenew", TOKEN)


def test_a_rotated_token_file_is_read_again_when_vault_refuses_the_old_token(
    vault: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "vault-token"
    token_file.write_text(TOKEN)
    monkeypatch.setenv("UCRENEW_VAULT_TOKEN_REF", f"file:{token_file}")
    assert resolve_secret_ref("vault:secret/data/ucrenew#axl_password") == AXL_PASSWORD
    vault.tokens = {"s.rotated": vault.tokens[TOKEN]}  # the agent renewed it
    token_file.write_text("s.rotated")
    assert resolve_secret_ref("vault:secret/data/ucrenew#axl_password") == AXL_PASSWORD
    assert vault.requests[-1][2] == "s.rotated"


def test_a_pinned_version_is_read(with_token: FakeVault) -> None:
    assert resolve_secret_ref("vault:secret/data/ucrenew#axl_password?version=1") == "old-value"


def test_kubernetes_login_then_read_and_login_again_when_the_token_is_revoked(
    vault: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    jwt_file = tmp_path / "token"
    jwt_file.write_text(JWT + "\n")
    monkeypatch.setenv("UCRENEW_VAULT_K8S_ROLE", "ucrenew-worker")
    monkeypatch.setenv("UCRENEW_VAULT_K8S_JWT_FILE", str(jwt_file))
    assert resolve_secret_ref("vault:secret/data/ucrenew#axl_password") == AXL_PASSWORD
    assert resolve_secret_ref("vault:secret/data/ucrenew#adcs_password") == "x"
    assert vault.logins == 1  # the login's token is kept for the process
    vault.tokens.clear()  # revoked (or expired)
    assert resolve_secret_ref("vault:secret/data/ucrenew#axl_password") == AXL_PASSWORD
    assert vault.logins == 2


def test_a_kubernetes_login_refused_names_the_role(
    vault: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    jwt_file = tmp_path / "token"
    jwt_file.write_text("another-service-account")
    monkeypatch.setenv("UCRENEW_VAULT_K8S_ROLE", "ucrenew-worker")
    monkeypatch.setenv("UCRENEW_VAULT_K8S_JWT_FILE", str(jwt_file))
    message = refused("vault:secret/data/ucrenew#axl_password")
    assert "refused the Kubernetes login for role 'ucrenew-worker'" in message


def test_a_missing_key_names_the_keys_there_are(with_token: FakeVault) -> None:
    message = refused("vault:secret/data/ucrenew#axl_pasword")
    assert "has no key 'axl_pasword'" in message and "adcs_password, axl_password" in message


def test_a_missing_secret(with_token: FakeVault) -> None:
    assert "has no secret at secret/data/missing" in refused("vault:secret/data/missing#k")


def test_a_deleted_version(with_token: FakeVault) -> None:
    assert "holds no data" in refused("vault:secret/data/deleted#k")


def test_a_path_the_policy_denies(with_token: FakeVault) -> None:
    message = refused("vault:secret/data/other-team#password")
    assert "denied reading secret/data/other-team" in message
    assert 'capabilities = ["read"]' in message


def test_sealed(with_token: FakeVault) -> None:
    with_token.sealed = True
    assert "is sealed" in refused("vault:secret/data/ucrenew#axl_password")


def test_unreachable(monkeypatch: pytest.MonkeyPatch, with_token: FakeVault) -> None:
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_loopback_port()}")
    assert "cannot be reached" in refused("vault:secret/data/ucrenew#axl_password")


def test_no_address_or_no_credentials(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "UCRENEW_VAULT_TOKEN_REF" in refused("vault:secret/data/ucrenew#axl_password")
    monkeypatch.delenv("VAULT_ADDR")
    assert "VAULT_ADDR is not set" in refused("vault:secret/data/ucrenew#axl_password")


@pytest.mark.parametrize(
    "ref",
    [
        "vault:secret/data/ucrenew",
        "vault:secret/ucrenew#k",
        "vault:secret/data/ucrenew#k?version=latest",
    ],
)
def test_malformed_vault_references_are_not_references(ref: str, with_token: FakeVault) -> None:
    with pytest.raises(SecretRefError) as err:
        resolve_secret_ref(ref)
    assert "not a secret reference" in str(err.value) and ref not in str(err.value)
    assert "vault:MOUNT/data/PATH#KEY" in str(err.value)
    assert with_token.requests == []


def test_k8s_references_are_refused_with_the_mounted_file_advice() -> None:
    with pytest.raises(SecretRefError, match="mount the Kubernetes Secret as a volume"):
        check_secret_ref("k8s:ucrenew/axl#password")


def run_worker_process(env_overrides: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCRENEW_")}
    env.update(
        UCRENEW_STATE_DIR=str(tmp_path / "state"),
        UCRENEW_STATELESS="true",
        # Nothing listens there: the worker gets past its CA check, then cannot connect.
        UCRENEW_TEMPORAL_ADDRESS=f"127.0.0.1:{free_loopback_port()}",
        **env_overrides,
    )
    done = subprocess.run(
        [sys.executable, "-m", "workers"], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stderr


def test_a_stateless_worker_takes_its_local_ca_from_vault(
    with_token: FakeVault, tmp_path: Path
) -> None:
    ca = LocalCa(tmp_path / "provisioned", key_size=2048)
    ca.ensure()
    with_token.secrets["secret/data/ucrenew-ca"] = [
        {
            "key": (ca.directory / "intermediate.key").read_text(),
            "chain": ca.chain_pem,
        }
    ]
    with_token.tokens[TOKEN].add("secret/data/ucrenew-ca")
    refs = {
        "VAULT_ADDR": with_token.url,
        "UCRENEW_VAULT_TOKEN_REF": "env:TEST_VAULT_TOKEN",
        "UCRENEW_LOCAL_CA_KEY_REF": "vault:secret/data/ucrenew-ca#key",
        "UCRENEW_LOCAL_CA_CHAIN_REF": "vault:secret/data/ucrenew-ca#chain",
    }
    code, stderr = run_worker_process(refs, tmp_path)
    # Past the CA (read from Vault), stopped by the missing Temporal.
    assert code == 1 and "cannot reach Temporal" in stderr, stderr
    reads = [path for method, path, _ in with_token.requests if method == "GET"]
    assert reads.count("/v1/secret/data/ucrenew-ca") >= 2
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*.key"))

    with_token.tokens[TOKEN].discard("secret/data/ucrenew-ca")
    code, stderr = run_worker_process(refs, tmp_path)
    assert code == 1 and "Traceback" not in stderr
    assert "vault:secret/data/ucrenew-ca#key" in stderr and "denied reading" in stderr
    assert "PRIVATE KEY" not in stderr
