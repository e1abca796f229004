"""The lab's release: any CUCM version 10.5 through 15, chosen by topology or at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lab import topology


@pytest.mark.parametrize(
    "version", ["10.5.2.15900-8", "11.5.1.21900-40", "12.5.1.16900-48", "15.0.1.10000-32"]
)
def test_a_release_given_at_start_replaces_the_topologys(version: str) -> None:
    spec = topology.load(None, version)
    assert spec.version == version
    assert topology.load().version == "14.0.1.13900-155"


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("banana", "not a CUCM version"),
        ("12.5", "not a CUCM version"),
        ("9.1.2.13900-10", "10.5 through 15"),
        ("16.0.1.10000-1", "10.5 through 15"),
    ],
)
def test_a_release_the_lab_does_not_model_is_refused_with_the_reason(
    version: str, reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        topology.load(None, version)
