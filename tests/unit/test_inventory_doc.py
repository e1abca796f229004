"""docs/inventory.md documents every inventory field, and only fields that exist.

Each section of the page is marked ``<!-- fields: <module>.<Model> -->``; the first column of
the table that follows lists the fields. A field added to a model without a line in the page,
or a line left for a field that is gone, fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

DOC = Path(__file__).parents[2] / "docs" / "inventory.md"
REGISTRY = Path(__file__).parents[2] / "activities" / "clients" / "ca" / "registry.py"

#: Fields that are not written in the inventory: set by the loader, or by the gate's key.
NOT_WRITTEN = {
    "activities.clients.inventory.Inventory": {"base_dir"},
    "workflows.approval_models.ApprovalPolicy": {"gate"},
}

_MARKER = re.compile(r"<!-- fields: (\S+) -->")
_ROW = re.compile(r"^\| `([a-z0-9_]+)` \|", re.MULTILINE)


def _sections() -> dict[str, set[str]]:
    text = DOC.read_text()
    marks = list(_MARKER.finditer(text))
    sections: dict[str, set[str]] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[mark.end() : end].split("\n#", 1)[0]  # up to the next heading
        sections[mark.group(1)] = set(_ROW.findall(body))
    return sections


def _model(dotted: str) -> type[BaseModel]:
    module, _, name = dotted.rpartition(".")
    model = getattr(importlib.import_module(module), name)
    assert issubclass(model, BaseModel)
    return model


MODELS = [
    "activities.clients.inventory.Inventory",
    "activities.clients.inventory.ClusterEntry",
    "activities.clients.inventory.NodeEntry",
    "activities.clients.inventory.Credentials",
    "activities.clients.inventory.Account",
    "activities.clients.inventory.TlsTrust",
    "activities.clients.inventory.CertificatesEntry",
    "activities.clients.inventory.ChangePolicyEntry",
    "activities.clients.inventory.WindowEntry",
    "activities.clients.inventory.HealthPolicyEntry",
    "activities.clients.inventory.RestartsPolicyEntry",
    "activities.clients.inventory.CaEntry",
    "activities.clients.inventory.CampaignsEntry",
    "activities.clients.itsm.models.ItsmConfig",
    "activities.clients.itsm.models.ItsmOverride",
    "activities.clients.itsm.models.ItsmAccount",
    "activities.clients.itsm.models.ItsmMatch",
    "activities.clients.itsm.models.WriteBackRetry",
    "activities.clients.ca.adcs.config.AdcsCaConfig",
    "activities.clients.ca.adcs.config.AdcsAuthConfig",
    "workflows.approval_models.ApprovalPolicy",
    "activities.clients.notify.config.NotificationsEntry",
    "activities.clients.notify.config.WebhookChannel",
    "activities.clients.notify.config.TeamsChannel",
    "activities.clients.notify.config.SlackChannel",
    "activities.clients.notify.config.WebexChannel",
    "activities.clients.notify.config.EmailChannel",
]


@pytest.mark.parametrize("dotted", MODELS)
def test_every_field_of_the_model_is_documented_and_nothing_else(dotted: str) -> None:
    sections = _sections()
    assert dotted in sections, f"docs/inventory.md has no section for {dotted}"
    fields = set(_model(dotted).model_fields) - NOT_WRITTEN.get(dotted, set())
    documented = sections[dotted]
    assert not fields - documented, f"{dotted}: undocumented fields {fields - documented}"
    assert not documented - fields, f"{dotted}: documented but not fields {documented - fields}"


def test_every_inventory_model_has_a_section() -> None:
    # A new block in the inventory (a model in inventory.py) needs its section too.
    inventory = importlib.import_module("activities.clients.inventory")
    models = {
        f"{inventory.__name__}.{name}"
        for name, obj in vars(inventory).items()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == inventory.__name__
    }
    # ApprovalPolicyEntry is documented through the workflow's ApprovalPolicy it feeds.
    models.discard("activities.clients.inventory.ApprovalPolicyEntry")
    assert models <= set(_sections())


def test_approval_entry_fields_are_the_workflow_policy_fields() -> None:
    entry = set(_model("activities.clients.inventory.ApprovalPolicyEntry").model_fields)
    policy = set(_model("workflows.approval_models.ApprovalPolicy").model_fields)
    assert entry <= policy


def test_every_acme_setting_the_registry_reads_is_documented() -> None:
    source = REGISTRY.read_text()
    acme = source[source.index('if entry.type == "acme"') : source.index('if entry.type == "adcs"')]
    read = set(
        re.findall(r'(?:s\.get\(|_require\(entry, |_secret_ref\(entry, inventory, )"(\w+)"', acme)
    )
    assert read >= {"directory_url", "account_key", "dns_hook"}  # the pattern still matches
    assert read <= _sections()["acme"]
