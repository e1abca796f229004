"""The deployment's registration script registers every search attribute ucrenew upserts,
with the type the code uses (an unregistered one stalls a renewal's workflow task)."""

from __future__ import annotations

import re
from pathlib import Path

from workers.devserver import _CLI_TYPE_NAMES
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "register-search-attributes.sh"


def test_the_script_registers_every_attribute_with_its_type() -> None:
    specs = dict(re.findall(r"\b([A-Z][A-Za-z]+)=([A-Z][A-Za-z]+)\b", SCRIPT.read_text()))
    wanted = {key.name: _CLI_TYPE_NAMES[key.indexed_value_type] for key in ALL_SEARCH_ATTRIBUTES}
    assert specs == wanted
