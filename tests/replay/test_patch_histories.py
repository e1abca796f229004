"""The upgrade policy's guard (operator guide, "Upgrading workers with renewals in flight"):
every ``workflow.patched`` id in the workflow code is exercised by a recorded history, so the
replay gate checks the patched branch as well as the histories recorded before it.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
WORKFLOWS = ROOT / "workflows"
RECORDED = [
    *(Path(__file__).parent / "histories").glob("*.json"),
    *(Path(__file__).parent / "campaign_histories").glob("*.json"),
]

#: Patches older than this guard that no recorded history takes: the list may only shrink.
WITHOUT_HISTORY = {"cscur97909-removal", "fleet-scan-continue-as-new", "s2s-trust-store"}

_PATCHED = re.compile(r"workflow\.(?:patched|deprecate_patch)\(\s*([A-Za-z_][\w]*|\"[^\"]+\")")
_IMPORTED = re.compile(r"from workflows\.(\w+) import PATCH as (\w+)")


def _constant(source: str, name: str) -> str | None:
    found = re.search(rf"^\s*{name}\s*(?::[^=\n]+)?=\s*\"([^\"]+)\"", source, re.MULTILINE)
    return found[1] if found else None


def patch_ids() -> set[str]:
    """Every patch id the workflow code asks about, constants resolved."""
    ids: set[str] = set()
    for path in WORKFLOWS.glob("*.py"):
        source = path.read_text()
        imported = {alias: module for module, alias in _IMPORTED.findall(source)}
        for arg in _PATCHED.findall(source):
            if arg.startswith('"'):
                ids.add(arg.strip('"'))
                continue
            value = _constant(source, arg)
            if value is None and arg in imported:
                value = _constant((WORKFLOWS / f"{imported[arg]}.py").read_text(), "PATCH")
            assert value is not None, f"{path.name}: cannot resolve patch id {arg}"
            ids.add(value)
    return ids


def recorded_ids() -> set[str]:
    """The patch ids recorded (as ``core_patch`` markers) in the committed histories."""
    ids: set[str] = set()
    for path in RECORDED:
        for event in json.loads(path.read_text())["events"]:
            marker = event.get("markerRecordedEventAttributes")
            if not marker or marker.get("markerName") != "core_patch":
                continue
            for payload in marker["details"]["patch-data"]["payloads"]:
                ids.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return ids


def test_every_patch_is_taken_by_a_recorded_history() -> None:
    ids = patch_ids()
    assert "stateless-ca-poll" in ids and len(ids) > 20  # the scan finds them
    missing = ids - recorded_ids()
    assert missing - WITHOUT_HISTORY == set(), (
        "record a history for each new patch: python -m tests.replay.record NAME"
    )
    assert missing == WITHOUT_HISTORY, "a listed patch now has a history: drop it from the list"
