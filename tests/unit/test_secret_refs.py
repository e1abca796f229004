"""The one secret-reference type, where configuration uses it, and the relative-path rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from activities.clients.ca.adcs.config import AdcsCaConfig
from activities.clients.ca.errors import CaConfigurationError
from activities.clients.ca.registry import build_ca
from activities.clients.inventory import Inventory, InventoryError, load_inventory
from activities.clients.secrets import (
    SecretRef,
    SecretRefError,
    rebase_secret_ref,
    resolve_secret_ref,
)

SENTINEL = "s3ntinel-Hunter2-do-not-leak"


class Holder(BaseModel):
    ref: SecretRef
    optional: SecretRef | None = None
    by_id: dict[str, SecretRef] = {}


def test_references_pass_unchanged() -> None:
    held = Holder(ref="env:AXL_PASSWORD", optional="file:secrets/axl", by_id={"k1": "file:/k"})
    assert (held.ref, held.optional, held.by_id) == (
        "env:AXL_PASSWORD",
        "file:secrets/axl",
        {"k1": "file:/k"},
    )
    assert Holder.model_json_schema()["properties"]["ref"]["type"] == "string"


@pytest.mark.parametrize(
    "data",
    [
        {"ref": SENTINEL},
        {"ref": f"vault:{SENTINEL}"},
        {"ref": 12345678},
        {"ref": "env:X", "optional": SENTINEL},
        {"ref": "env:X", "by_id": {"k1": SENTINEL}},
    ],
)
def test_literals_are_refused_without_being_repeated(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as err:
        Holder.model_validate(data)
    text = str(err.value)
    assert "not a secret reference" in text and "env:NAME" in text
    assert SENTINEL not in text and "12345678" not in text
    assert all(SENTINEL not in repr(e["input"]) for e in err.value.errors())


def test_rebase_anchors_relative_file_paths_only(tmp_path: Path) -> None:
    assert rebase_secret_ref("file:secrets/k", tmp_path) == f"file:{tmp_path / 'secrets/k'}"
    assert rebase_secret_ref("file:/etc/k", tmp_path) == "file:/etc/k"
    assert rebase_secret_ref("env:K", tmp_path) == "env:K"
    with pytest.raises(SecretRefError) as err:
        rebase_secret_ref(SENTINEL, tmp_path)
    assert SENTINEL not in str(err.value)


def test_rebased_reference_resolves_from_anywhere(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(SENTINEL + "\n")
    assert resolve_secret_ref(rebase_secret_ref("file:k", tmp_path), Path("/")) == SENTINEL


def test_inventory_with_a_literal_password_does_not_repeat_it(tmp_path: Path) -> None:
    account = {"username": "admin", "password": SENTINEL}
    cluster = {
        "name": "lab",
        "domain": "lab.example.com",
        "publisher": "cucm-pub",
        "nodes": [{"fqdn": "cucm-pub.lab.example.com", "role": "publisher"}],
        "credentials": {"os_admin": account, "app_user": {**account, "password": "env:X"}},
    }
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump({"clusters": [cluster]}))

    with pytest.raises(InventoryError, match=r"os_admin\.password") as err:
        load_inventory(path)
    assert SENTINEL not in str(err.value)


def test_adcs_entry_with_a_literal_password_does_not_repeat_it() -> None:
    entry = {"name": "corp", "url": "https://ca/certsrv/", "auth": {"password": SENTINEL}}
    with pytest.raises(ValidationError) as err:
        AdcsCaConfig.model_validate(entry)
    assert SENTINEL not in str(err.value)


def _acme_inventory(tmp_path: Path, **settings: object) -> Inventory:
    entry = {"name": "corp-acme", "type": "acme", "directory_url": "https://acme/dir"}
    return Inventory.model_validate(
        {"clusters": [], "cas": [{**entry, **settings}], "base_dir": str(tmp_path)}
    )


def test_acme_account_key_must_be_a_reference(tmp_path: Path) -> None:
    inventory = _acme_inventory(tmp_path, account_key=SENTINEL)
    with pytest.raises(CaConfigurationError, match="account_key: not a secret reference") as err:
        build_ca(inventory.ca("acme"), inventory, tmp_path)
    assert SENTINEL not in str(err.value)


def test_acme_http_hook_is_refused(tmp_path: Path) -> None:
    inventory = _acme_inventory(tmp_path, http_hook={"type": "webroot"})
    with pytest.raises(CaConfigurationError, match="http_hook is not supported") as err:
        build_ca(inventory.ca("acme"), inventory, tmp_path)
    message = err.value.message
    assert "dns-01 only" in message and "Cisco Tomcat" in message
    assert "set dns_hook" in message


@pytest.mark.parametrize(
    "credentials",
    [
        # under a misspelt key: pydantic's own message would quote it
        {"os_admin": {"username": "a", "pasword": SENTINEL}, "app_user": {"username": "b"}},
        # a whole account written as one string
        {"os_admin": f"admin:{SENTINEL}", "app_user": f"axl/{SENTINEL}"},
    ],
)
def test_inventory_never_repeats_a_misplaced_password(
    tmp_path: Path, credentials: dict[str, object]
) -> None:
    cluster = {
        "name": "lab",
        "domain": "lab.example.com",
        "publisher": "cucm-pub",
        "nodes": [{"fqdn": "cucm-pub.lab.example.com", "role": "publisher"}],
        "credentials": credentials,
    }
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump({"clusters": [cluster]}))

    with pytest.raises(InventoryError, match=r"clusters\[0\]\.credentials\.os_admin") as err:
        load_inventory(path)
    assert SENTINEL not in str(err.value)


def test_inventory_yaml_error_names_the_line_not_its_text(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yaml"
    path.write_text(f"clusters:\n  - name: lab\n    password: {SENTINEL}: oops\n")
    with pytest.raises(InventoryError, match="line 3") as err:
        load_inventory(path)
    assert SENTINEL not in str(err.value)


def test_adcs_misconfiguration_names_fields_only(tmp_path: Path) -> None:
    entry = {"name": "corp", "type": "adcs", "url": "https://ca/certsrv/", "secret": SENTINEL}
    inventory = Inventory.model_validate(
        {"clusters": [], "cas": [entry], "base_dir": str(tmp_path)}
    )
    with pytest.raises(CaConfigurationError, match="secret: unknown field") as err:
        build_ca(inventory.ca("adcs"), inventory, tmp_path)
    assert SENTINEL not in str(err.value)
