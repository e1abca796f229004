"""The cached inventory: one parse per version of clusters.yaml, edits seen at once, the same
messages as the uncached loader, secrets still resolved at use, parses off the event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from activities.clients import inventory as inv
from activities.clients.inventory import (
    InventoryError,
    clear_inventory_cache,
    inventory_parse_count,
    load_inventory,
    load_inventory_async,
    load_inventory_cached,
)

SENTINEL = "s3ntinel-Hunter2-do-not-leak"


ENV_REF = "env:UCRENEW_TEST_INV_PW"


def _cluster(name: str, secret: str | None = None) -> dict[str, object]:
    account = {"username": "admin", "password": secret or ENV_REF}
    return {
        "name": name,
        "domain": "lab.example.com",
        "publisher": "cucm-pub",
        "nodes": [{"fqdn": "cucm-pub.lab.example.com", "role": "publisher"}],
        "credentials": {"os_admin": account, "app_user": account},
    }


def _write(path: Path, *names: str) -> None:
    path.write_text(yaml.safe_dump({"clusters": [_cluster(n) for n in names]}))


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_inventory_cache()
    yield
    clear_inventory_cache()


def test_unchanged_file_is_parsed_once_and_the_same_object_reused(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yaml"
    _write(path, "lab")
    before = inventory_parse_count()
    first = load_inventory_cached(path)
    second = load_inventory_cached(path)
    third = asyncio.run(load_inventory_async(path))
    assert first is second is third
    assert inventory_parse_count() - before == 1
    assert first == load_inventory(path)


def test_an_edited_file_is_read_at_once(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yaml"
    _write(path, "lab")
    st = path.stat()
    assert [c.name for c in load_inventory_cached(path).clusters] == ["lab"]
    # Same size, rewritten in place, and even given back its old mtime: ctime still moves.
    _write(path, "bal")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    assert [c.name for c in load_inventory_cached(path).clusters] == ["bal"]
    # A longer edit, with a distinct mtime.
    _write(path, "bal", "lab-002")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert [c.name for c in load_inventory_cached(path).clusters] == ["bal", "lab-002"]


def test_a_replaced_file_is_read_at_once(tmp_path: Path) -> None:
    """An editor saving by rename gives the path a new inode."""
    path, new = tmp_path / "clusters.yaml", tmp_path / "clusters.yaml.new"
    _write(path, "lab")
    first = asyncio.run(load_inventory_async(path))
    _write(new, "bal")
    st = path.stat()
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    new.replace(path)
    second = asyncio.run(load_inventory_async(path))
    assert second is not first
    assert [c.name for c in second.clusters] == ["bal"]


def _message(call: object) -> str:
    assert callable(call)
    with pytest.raises(InventoryError) as err:
        call()
    return str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        # libyaml words each of these differently from the pure loader
        f"clusters:\n  - name: lab\n    password: {SENTINEL}: oops\n",
        "clusters:\n\t- name: lab\n",
        "clusters: [1, 2\n",
        # not a mapping; a validation error with a literal password (located by line)
        "- just\n- a list\n",
        yaml.safe_dump({"clusters": [_cluster("lab", secret=SENTINEL)]}),
        yaml.safe_dump({"clusters": [{"name": "lab"}]}),
    ],
)
def test_errors_are_those_of_the_uncached_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "clusters.yaml"
    path.write_text(text)
    expected = _message(lambda: load_inventory(path))
    with pytest.MonkeyPatch.context() as mp:
        # the message as the pure-Python loader alone gives it (PyYAML without libyaml)
        mp.setattr(inv, "_LIBYAML", False)
        assert _message(lambda: load_inventory(path)) == expected
    assert _message(lambda: load_inventory_cached(path)) == expected
    assert _message(lambda: load_inventory_cached(path)) == expected  # from the cache
    assert _message(lambda: asyncio.run(load_inventory_async(path))) == expected
    assert SENTINEL not in expected and str(path) in expected


def test_a_missing_file_says_how_to_get_one_even_after_it_was_cached(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yaml"
    expected = _message(lambda: load_inventory(path))
    assert "ucrenew lab up" in expected
    assert _message(lambda: load_inventory_cached(path)) == expected
    _write(path, "lab")
    load_inventory_cached(path)
    path.unlink()
    assert _message(lambda: asyncio.run(load_inventory_async(path))) == expected


def test_a_broken_file_fixed_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yaml"
    path.write_text("clusters: [1, 2\n")
    _message(lambda: load_inventory_cached(path))
    _write(path, "lab")
    assert [c.name for c in load_inventory_cached(path).clusters] == ["lab"]


def test_secrets_are_resolved_at_use_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clusters.yaml"
    _write(path, "lab")
    monkeypatch.setenv("UCRENEW_TEST_INV_PW", "first")
    inventory = load_inventory_cached(path)
    account = inventory.cluster("lab").credentials.os_admin
    assert inventory.password(account) == "first"
    monkeypatch.setenv("UCRENEW_TEST_INV_PW", "rotated")
    again = load_inventory_cached(path)
    assert again is inventory
    assert again.password(again.cluster("lab").credentials.os_admin) == "rotated"
    assert "first" not in again.model_dump_json() and "rotated" not in again.model_dump_json()


def test_async_callers_parse_in_a_thread_not_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clusters.yaml"
    _write(path, "lab")
    threads: list[threading.Thread] = []
    real_parse = inv._parse

    def spy(p: Path, text: str) -> inv.Inventory:
        threads.append(threading.current_thread())
        return real_parse(p, text)

    monkeypatch.setattr(inv, "_parse", spy)

    async def twice() -> threading.Thread:
        await load_inventory_async(path)
        await load_inventory_async(path)
        return threading.current_thread()

    loop_thread = asyncio.run(twice())
    assert len(threads) == 1 and threads[0] is not loop_thread


def test_concurrent_async_callers_share_one_parse(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yaml"
    _write(path, "lab")
    before = inventory_parse_count()

    async def many() -> list[inv.Inventory]:
        return list(await asyncio.gather(*(load_inventory_async(path) for _ in range(8))))

    results = asyncio.run(many())
    assert inventory_parse_count() - before == 1
    assert all(r is results[0] for r in results)
