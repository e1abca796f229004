"""Topology of a lab cluster, read from YAML."""

from __future__ import annotations

import ipaddress
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Product = Literal["cucm", "imp"]


class Ports(BaseModel):
    """TCP ports every node serves. Privileged ports are shifted when not running as root."""

    model_config = ConfigDict(extra="forbid")

    https: int = 8443
    https_alt: int = 443
    ssh: int = 22


class NodeSpec(BaseModel):
    """One server of the cluster."""

    model_config = ConfigDict(extra="forbid")

    hostname: str
    product: Product = "cucm"
    publisher: bool = False
    address: str | None = None
    deactivated: list[str] = Field(default_factory=list, description="services not activated")


class TopologySpec(BaseModel):
    """A whole cluster as the lab runs it."""

    model_config = ConfigDict(extra="forbid")

    cluster: str = "lab"
    version: str = "14.0.1.13900-155"
    domain: str = "lab.example.com"
    network: str = "127.0.1.0/24"
    first_host: int = 11
    ports: Ports = Field(default_factory=Ports)
    nodes: list[NodeSpec]
    cert_validity_days: float = 20.0
    sso_enabled: bool = True
    security_mode: Literal[0, 1] = 0
    timing: str = "fast"
    os_admin_user: str = "admin"
    app_user: str = "ucrenew-app"
    seed: int | None = None

    @model_validator(mode="after")
    def _check(self) -> TopologySpec:
        names = [n.hostname for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError("node hostnames must be unique")
        for product in ("cucm", "imp"):
            members = [n for n in self.nodes if n.product == product]
            pubs = [n for n in members if n.publisher]
            if members and len(pubs) != 1:
                raise ValueError(f"exactly one {product} node must be the publisher")
        if not any(n.product == "cucm" for n in self.nodes):
            raise ValueError("a cluster needs at least one CUCM node")
        net = ipaddress.ip_network(self.network)
        if not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
            raise ValueError("the lab binds loopback addresses only (127.0.0.0/8)")
        for n in self.nodes:
            if n.address and ipaddress.ip_address(n.address) not in ipaddress.ip_network(
                "127.0.0.0/8"
            ):
                raise ValueError(f"{n.hostname}: the lab binds loopback addresses only")
        return self

    def address_of(self, index: int) -> str:
        """Loopback address of the node at ``index``."""
        node = self.nodes[index]
        if node.address:
            return node.address
        net = ipaddress.ip_network(self.network)
        return str(net.network_address + self.first_host + index)

    def fqdn(self, hostname: str) -> str:
        """Fully qualified name of a node."""
        return f"{hostname}.{self.domain}"

    @property
    def major_version(self) -> float:
        """``14.0`` for ``14.0.1.13900-155``."""
        parts = self.version.split(".")
        return float(f"{parts[0]}.{parts[1]}")


def load(path: str | Path | None = None) -> TopologySpec:
    """Load a topology YAML file, or the default topology shipped with the lab."""
    if path is None:
        text = resources.files("lab").joinpath("default_topology.yaml").read_text()
    else:
        text = Path(path).read_text()
    data = yaml.safe_load(text)
    return TopologySpec.model_validate(data)
