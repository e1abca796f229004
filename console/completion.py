"""Shell completion of cluster names and change ids: cheap, and never an error.

Completion runs on every Tab press: it reads the inventory as plain YAML (no validation) and
the change ids the CLI saw last (``ls``, ``start``), from a file in the state dir, rather than
asking Temporal. Any failure completes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

#: Change ids kept for completion, most recent first.
_KEPT = 500


def _state_dir() -> Path:
    # The same default as workers.settings.UcrenewSettings.state_dir, without importing
    # pydantic-settings on every Tab press.
    return Path(os.environ.get("UCRENEW_STATE_DIR") or ".state")


def _inventory_file(state_dir: Path) -> Path:
    # As workers.wiring.inventory_path: the configured inventory, else the running lab's.
    configured = Path(os.environ.get("UCRENEW_INVENTORY") or state_dir / "clusters.yaml")
    lab = state_dir / "lab" / "inventory.yaml"
    return lab if not configured.exists() and lab.exists() else configured


def _changes_file(state_dir: Path) -> Path:
    return state_dir / "cli" / "change-ids"


def clusters(incomplete: str) -> list[str]:
    """Cluster names of the inventory that start with ``incomplete``."""
    try:
        import yaml

        data = yaml.safe_load(_inventory_file(_state_dir()).read_text())
        names = [str(c["name"]) for c in data["clusters"] if isinstance(c, dict) and "name" in c]
    except Exception:  # completion must never fail the shell
        return []
    return [n for n in names if n.startswith(incomplete)]


def change_ids(incomplete: str) -> list[str]:
    """Change ids ucrenew listed or started here that start with ``incomplete``."""
    try:
        ids = _changes_file(_state_dir()).read_text().split()
    except Exception:  # completion must never fail the shell
        return []
    return [c for c in ids if c.startswith(incomplete)]


def remember_change(state_dir: Path, change_id: str) -> None:
    """Note ``change_id`` for completion (best effort)."""
    remember_changes(state_dir, [change_id])


def remember_changes(state_dir: Path, ids: Iterable[str]) -> None:
    """Note ``ids`` for completion, newest first (best effort: never raises)."""
    try:
        path = _changes_file(state_dir)
        try:
            known = path.read_text().split()
        except FileNotFoundError:
            known = []
        new = list(dict.fromkeys([*ids, *known]))[:_KEPT]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(new) + "\n")
        tmp.replace(path)
    except Exception:  # noqa: S110 - a cache for completion, never worth failing for
        pass
