"""`ucrenew start --window` parsing."""

import pytest

from console.cli import _window
from console.common import CliError


def test_a_window_with_zones_is_accepted() -> None:
    assert _window("2026-11-28T22:00Z/2026-11-29T04:00+00:00") == {
        "start": "2026-11-28T22:00:00+00:00",
        "end": "2026-11-29T04:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-11-28T22:00/2026-11-29T04:00", "timezone"),
        ("2026-11-29T04:00Z/2026-11-28T22:00Z", "ends before it starts"),
        ("2026-11-28T22:00Z", "START/END"),
        ("tonight/tomorrow", "Invalid isoformat"),
    ],
)
def test_bad_windows_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(CliError, match=why):
        _window(text)
