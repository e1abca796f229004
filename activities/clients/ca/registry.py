"""Build the CA backend an inventory entry describes."""

from __future__ import annotations

from pathlib import Path

from activities.clients.ca.base import CertificateAuthority
from activities.clients.ca.errors import CaConfigurationError
from activities.clients.inventory import CaEntry, Inventory


def build_ca(entry: CaEntry, inventory: Inventory, state_dir: Path) -> CertificateAuthority:
    """The CertificateAuthority for ``entry`` (secrets resolved here, from references)."""
    raise CaConfigurationError(
        f"CA {entry.name!r}: backend {entry.type!r} is not available in this build",
        ca=entry.name,
    )
