"""Build the CA backend an inventory ``cas:`` entry describes.

```yaml
cas:
  - name: corp-acme
    type: acme
    directory_url: https://acme.corp.example/directory
    contact_email: voice-team@corp.example
    ca_bundle: trust/acme-server.pem          # trust for the ACME server's own TLS
    root_file: trust/corp-root.pem            # appended to chains that stop below it
    account_key: file:secrets/acme-account.key   # optional; generated and kept otherwise
    dns_hook: {type: command, argv: [/usr/local/bin/dns-hook], timeout: 300}
  - name: corp-adcs
    type: adcs
    url: https://ca.corp.example/certsrv/
    template: CUCMWebServer
    ca_file: trust/corp-root.pem
    auth: {method: basic, username: svc-ucrenew, password: env:ADCS_PASSWORD}
```

Relative paths are relative to the inventory file; secrets are references.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from activities.clients.ca.acme.backend import AcmeCa
from activities.clients.ca.acme.hooks import CommandDnsHook, DnsHook
from activities.clients.ca.adcs.config import AdcsCaConfig, adcs_ca_from_config
from activities.clients.ca.base import CertificateAuthority
from activities.clients.ca.errors import CaConfigurationError
from activities.clients.inventory import CaEntry, Inventory
from activities.clients.secrets import SecretRefError, rebase_secret_ref, resolve_secret_ref
from activities.clients.validation import describe_validation_error


def _path(inventory: Inventory, value: object) -> str | None:
    if value is None:
        return None
    p = Path(str(value))
    return str(p if p.is_absolute() else Path(inventory.base_dir) / p)


def _secret_ref(entry: CaEntry, inventory: Inventory, key: str) -> str | None:
    """The secret reference under ``key``, a relative ``file:`` path anchored to the inventory."""
    value = entry.settings.get(key)
    if value is None:
        return None
    try:
        return rebase_secret_ref(str(value), inventory.base_dir)
    except SecretRefError as exc:
        raise CaConfigurationError(f"CA {entry.name!r}: {key}: {exc}", ca=entry.name) from None


def _require(entry: CaEntry, key: str) -> Any:
    value = entry.settings.get(key)
    if value in (None, ""):
        raise CaConfigurationError(f"CA {entry.name!r} ({entry.type}) needs {key!r}", ca=entry.name)
    return value


def _dns_hook(entry: CaEntry, spec: object) -> DnsHook | None:
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise CaConfigurationError(f"CA {entry.name!r}: dns_hook must be a mapping", ca=entry.name)
    kind = spec.get("type")
    if kind == "command":
        return CommandDnsHook(list(spec.get("argv") or []), timeout=float(spec.get("timeout", 300)))
    raise CaConfigurationError(
        f"CA {entry.name!r}: dns_hook.type must be 'command' "
        "(e.g. dns_hook: {type: command, argv: [/usr/local/bin/dns-hook]})",
        ca=entry.name,
    )


def build_ca(
    entry: CaEntry, inventory: Inventory, state_dir: Path, *, local_disk: bool = True
) -> CertificateAuthority:
    """The CertificateAuthority for ``entry`` (secrets resolved here, from references).

    Args:
        entry: The inventory's CA entry.
        inventory: The inventory (relative paths are relative to its file).
        state_dir: The worker's state directory (ACME keeps its orders below it).
        local_disk: False on a stateless worker: the backend keeps nothing on disk.
    """
    s = entry.settings
    if entry.type == "acme":
        if s.get("http_hook") is not None:
            raise CaConfigurationError(
                f"CA {entry.name!r}: http_hook is not supported: ucrenew validates ACME orders "
                "by dns-01 only, because the names on a CUCM certificate are CUCM and IM&P "
                "nodes, whose ports 80 and 443 are Cisco Tomcat with no place for an http-01 "
                "token; remove http_hook and set dns_hook "
                "(e.g. dns_hook: {type: command, argv: [/usr/local/bin/dns-hook]})",
                ca=entry.name,
            )
        root_file = _path(inventory, s.get("root_file"))
        return AcmeCa(
            str(_require(entry, "directory_url")),
            state_dir=state_dir / "ca" / "acme" / entry.name,
            account_key_ref=_secret_ref(entry, inventory, "account_key"),
            contact_email=s.get("contact_email"),  # type: ignore[arg-type]
            dns_hook=_dns_hook(entry, s.get("dns_hook")),
            ca_bundle=_path(inventory, s.get("ca_bundle")),
            root_pem=Path(root_file).read_text() if root_file else None,
            name=entry.name,
            local_disk=local_disk,
        )
    if entry.type == "adcs":
        try:
            config = AdcsCaConfig.model_validate(entry.model_dump())
        except ValidationError as exc:
            raise CaConfigurationError(
                f"CA {entry.name!r} (adcs) is misconfigured: {describe_validation_error(exc)}",
                ca=entry.name,
            ) from None
        return adcs_ca_from_config(
            config,
            lambda ref: resolve_secret_ref(ref, base_dir=inventory.base_dir),
            base_dir=inventory.base_dir,
        )
    raise CaConfigurationError(
        f"CA {entry.name!r}: type {entry.type!r} cannot be built here", ca=entry.name
    )
