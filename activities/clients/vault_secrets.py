"""``vault:`` secret references: HashiCorp Vault's KV version 2 engine, through ``hvac``.

A reference names the API path of a KV v2 secret and one key in it::

    vault:secret/data/ucrenew#axl_password     mount "secret", secret "ucrenew", key
                                               "axl_password" (GET /v1/secret/data/ucrenew)
    vault:kv/data/cucm/lab#password?version=3  a pinned version of the secret

How the process reaches and signs in to Vault comes from the environment, like the ``vault``
CLI's own variables:

* ``VAULT_ADDR``: the server's URL (required); ``VAULT_CACERT``: a PEM file of the CA that
  signed its certificate (the system's trust store otherwise); ``VAULT_NAMESPACE``: a Vault
  Enterprise namespace.
* A token: ``UCRENEW_VAULT_TOKEN_REF`` (a reference, ``env:`` or ``file:``, to the token), or
* Kubernetes auth: ``UCRENEW_VAULT_K8S_ROLE`` (the Vault role bound to the worker's service
  account), ``UCRENEW_VAULT_K8S_MOUNT`` (the auth mount, ``kubernetes`` by default) and
  ``UCRENEW_VAULT_K8S_JWT_FILE`` (the projected service-account token, by default
  ``/var/run/secrets/kubernetes.io/serviceaccount/token``).

The token (from the login or the reference) is kept in memory for the process; when Vault
refuses it, the process signs in again once (a new login, or the token reference read again,
e.g. a file a Vault agent rewrites) before reporting a denial.

Values are never cached: a secret rotated in Vault is used at the next resolution. Errors name
the reference, the path and the Vault address, never a value or a token.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import hvac
import requests
from hvac import exceptions as vault_errors

__all__ = ["VaultRef", "VaultSecretError", "parse_vault_ref", "read_vault_secret"]

_DEFAULT_JWT_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
_TIMEOUT_SECONDS = 10


class VaultSecretError(ValueError):
    """A ``vault:`` reference cannot be resolved; the message holds no secret."""


@dataclass(frozen=True)
class VaultRef:
    """A parsed ``vault:`` reference.

    Attributes:
        path: The API path after ``/v1/``, e.g. ``secret/data/ucrenew``.
        key: The key inside the secret's data.
        version: A pinned version, or None for the current one.
    """

    path: str
    key: str
    version: int | None = None


def parse_vault_ref(target: str) -> VaultRef:
    """Parse what follows ``vault:``.

    Raises:
        VaultSecretError: No ``#key``, no ``/data/`` segment (a KV v2 API path), or a bad
            version.
    """
    path, sep, rest = target.partition("#")
    key, _, query = rest.partition("?")
    path = path.strip("/")
    if not sep or not key or not path:
        raise VaultSecretError("expected vault:<mount>/data/<path>#<key>")
    if "/data/" not in f"/{path}/":
        raise VaultSecretError(
            f"{path} is not a KV v2 API path: write <mount>/data/<path> "
            f"(e.g. secret/data/ucrenew#{key})"
        )
    version: int | None = None
    if query:
        values = parse_qs(query).get("version", [])
        if len(values) != 1 or not values[0].isdigit():
            raise VaultSecretError("the only option is ?version=<number>")
        version = int(values[0])
    return VaultRef(path=path, key=key, version=version)


class _Session:
    """One process's Vault client and how it signs in."""

    def __init__(self, env: dict[str, str]) -> None:
        addr = env.get("VAULT_ADDR", "").strip()
        if not addr:
            raise VaultSecretError("VAULT_ADDR is not set (the Vault server's URL)")
        self.addr = addr
        self._env = env
        verify: bool | str = env.get("VAULT_CACERT") or True
        self.client = hvac.Client(
            url=addr,
            # Not None: hvac would then read VAULT_TOKEN or ~/.vault-token on its own.
            token="",
            verify=verify,
            timeout=_TIMEOUT_SECONDS,
            namespace=env.get("VAULT_NAMESPACE") or None,
        )
        self._lock = threading.Lock()
        self._signed_in = False

    def sign_in(self, *, again: bool = False) -> None:
        with self._lock:
            if self._signed_in and not again:
                return
            role = self._env.get("UCRENEW_VAULT_K8S_ROLE")
            token_ref = self._env.get("UCRENEW_VAULT_TOKEN_REF")
            if role:
                self._kubernetes_login(role)
            elif token_ref:
                # Imported here: secrets.py imports this module lazily.
                from activities.clients.secrets import SecretRefError, resolve_secret_ref

                try:
                    self.client.token = resolve_secret_ref(token_ref)
                except SecretRefError as exc:
                    raise VaultSecretError(f"UCRENEW_VAULT_TOKEN_REF: {exc}") from None
            else:
                raise VaultSecretError(
                    "no Vault credentials: set UCRENEW_VAULT_TOKEN_REF (a reference to a "
                    "token) or UCRENEW_VAULT_K8S_ROLE (Kubernetes auth)"
                )
            self._signed_in = True

    def _kubernetes_login(self, role: str) -> None:
        mount = self._env.get("UCRENEW_VAULT_K8S_MOUNT") or "kubernetes"
        jwt_file = Path(self._env.get("UCRENEW_VAULT_K8S_JWT_FILE") or _DEFAULT_JWT_FILE)
        try:
            jwt = jwt_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise VaultSecretError(
                f"cannot read the service-account token {jwt_file} for Vault's Kubernetes "
                f"login ({type(exc).__name__})"
            ) from None
        try:
            self.client.auth.kubernetes.login(role=role, jwt=jwt, mount_point=mount)
        except (vault_errors.Forbidden, vault_errors.InvalidRequest, vault_errors.Unauthorized):
            raise VaultSecretError(
                f"Vault at {self.addr} refused the Kubernetes login for role {role!r} "
                f"(auth/{mount}/login): check the role's bound service account and namespace"
            ) from None
        except vault_errors.VaultError as exc:
            raise VaultSecretError(_vault_down(self.addr, exc)) from None
        except requests.RequestException as exc:
            raise VaultSecretError(_unreachable(self.addr, exc)) from None


def _vault_down(addr: str, exc: vault_errors.VaultError) -> str:
    if isinstance(exc, vault_errors.VaultDown):
        return f"Vault at {addr} is sealed or in maintenance (HTTP 503); unseal it and retry"
    return f"Vault at {addr} failed ({type(exc).__name__})"


def _unreachable(addr: str, exc: requests.RequestException) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS to Vault at {addr} failed: set VAULT_CACERT to the CA that signed it"
    return f"Vault at {addr} cannot be reached ({type(exc).__name__})"


_sessions: dict[tuple[tuple[str, str], ...], _Session] = {}
_sessions_lock = threading.Lock()


def _session() -> _Session:
    names = (
        "VAULT_ADDR",
        "VAULT_CACERT",
        "VAULT_NAMESPACE",
        "UCRENEW_VAULT_TOKEN_REF",
        "UCRENEW_VAULT_K8S_ROLE",
        "UCRENEW_VAULT_K8S_MOUNT",
        "UCRENEW_VAULT_K8S_JWT_FILE",
    )
    env = {n: os.environ[n] for n in names if os.environ.get(n)}
    key = tuple(sorted(env.items()))
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = _Session(env)
    return session


def read_vault_secret(target: str) -> str:
    """The value of a ``vault:`` reference (what follows ``vault:``).

    Raises:
        VaultSecretError: Malformed reference, no address or credentials, login refused,
            secret or key missing, access denied, Vault sealed or unreachable; the message
            names the path and the address, never a value.
    """
    ref = parse_vault_ref(target)
    session = _session()
    session.sign_in()
    try:
        data = _read(session, ref)
    except (vault_errors.Forbidden, vault_errors.Unauthorized):
        # The token may have expired or been rotated (a new login, a new token file): sign in
        # again once before calling it a denial.
        session.sign_in(again=True)
        try:
            data = _read(session, ref)
        except vault_errors.Forbidden:
            raise VaultSecretError(_denied(session.addr, ref)) from None
        except vault_errors.Unauthorized:
            raise VaultSecretError(
                f"Vault at {session.addr} did not accept the token (expired or revoked)"
            ) from None
    value = data.get(ref.key)
    if value is None:
        raise VaultSecretError(
            f"the Vault secret {ref.path} has no key {ref.key!r} "
            f"(it has: {', '.join(sorted(data)) or 'no keys'})"
        )
    if not isinstance(value, str) or not value:
        raise VaultSecretError(
            f"key {ref.key!r} of the Vault secret {ref.path} is not a non-empty string"
        )
    return value


def _denied(addr: str, ref: VaultRef) -> str:
    return (
        f"Vault at {addr} denied reading {ref.path}: the token's policies need "
        f'path "{ref.path}" {{ capabilities = ["read"] }}'
    )


def _read(session: _Session, ref: VaultRef) -> dict[str, Any]:
    params = {"version": ref.version} if ref.version is not None else None
    try:
        response = session.client.adapter.get(f"/v1/{ref.path}", params=params)
    except (vault_errors.InvalidPath, vault_errors.InvalidRequest):
        raise VaultSecretError(
            f"Vault at {session.addr} has no secret at {ref.path}"
            + (f" (version {ref.version})" if ref.version is not None else "")
        ) from None
    except (vault_errors.Forbidden, vault_errors.Unauthorized):
        raise
    except vault_errors.VaultError as exc:
        raise VaultSecretError(_vault_down(session.addr, exc)) from None
    except requests.RequestException as exc:
        raise VaultSecretError(_unreachable(session.addr, exc)) from None
    body = response if isinstance(response, dict) else {}
    inner = (body.get("data") or {}).get("data")
    if not isinstance(inner, dict):
        # A deleted or destroyed version reads as data: null (KV v2 "read secret version").
        raise VaultSecretError(
            f"the Vault secret {ref.path} holds no data (deleted or destroyed version?)"
        )
    return inner
