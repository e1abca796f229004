"""Benchmarks keep their labs off the test labs' loopback networks.

A benchmark run on the machine that runs the tests must not bind an address a test lab binds
(the clash shows as "address already in use" in an unrelated test)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.lab.conftest import TEST_LAB_OCTETS

BENCH = Path(__file__).resolve().parents[2] / "bench"
# tests/e2e/test_crash_matrix_e2e.py runs the crash matrix on 127.70-94.x.
CRASH_MATRIX_TEST_OCTETS = range(70, 95)
LITERAL = re.compile(r"127\.(\d{1,3})\.")


def _second_octets(path: Path) -> list[tuple[int, int]]:
    """(line, second octet) of every 127.x network written in a bench module, and of every
    ``--subnet`` default (the second octet itself)."""
    found: list[tuple[int, int]] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith("127.0.0."):
                continue
            found += [(node.lineno, int(m)) for m in LITERAL.findall(node.value)]
        if (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "--subnet"
        ):
            found += [
                (node.lineno, kw.value.value)
                for kw in node.keywords
                if kw.arg == "default" and isinstance(kw.value, ast.Constant)
            ]
    return found


def test_benchmarks_never_use_a_test_labs_network() -> None:
    clashes = [
        f"{path.name}:{line}: 127.{octet}.x"
        for path in sorted(BENCH.glob("*.py"))
        for line, octet in _second_octets(path)
        if octet in TEST_LAB_OCTETS or octet in CRASH_MATRIX_TEST_OCTETS
    ]
    assert clashes == []


def test_the_check_sees_networks_and_subnet_defaults() -> None:
    scale = _second_octets(BENCH / "bench_scale.py")
    chaos = _second_octets(BENCH / "bench_chaos.py")
    assert [octet for _, octet in scale] == [20] and 40 in [octet for _, octet in chaos]
