"""The lab fixtures, shared with tests/lab."""

from tests.lab.conftest import lab, make_lab

__all__ = ["lab", "make_lab"]
