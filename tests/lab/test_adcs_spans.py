"""The ADCS client's spans: one per exchange with certsrv, naming the CA, the page and how
it ended, against the lab's ADCS twin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from activities.models import CaProfile
from tests.lab.test_adcs import AdcsLab, adcs
from tests.spans import spans_in_memory

__all__ = ["adcs"]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """ucrenew traces into memory for the test (and not at all after it)."""
    with spans_in_memory() as exporter:
        yield exporter


async def test_each_exchange_with_certsrv_is_a_span(
    adcs: AdcsLab, spans: InMemorySpanExporter
) -> None:
    """A submission that is issued at once: every page it posts or reads is a client span of
    interface ``adcs`` with the CA's name, the method and page, and ``ok``; neither the CSR
    nor the certificate is in any."""
    csr = adcs.csr()
    sub = await adcs.client().submit(csr, CaProfile(template="WebServer"))
    assert sub.status == "issued"
    finished = spans.get_finished_spans()
    assert finished
    for span in finished:
        attrs = dict(span.attributes or {})
        assert attrs["ucrenew.interface"] == "adcs"
        assert attrs["ucrenew.ca"] == adcs.config.name
        assert attrs["ucrenew.outcome"] == "ok"
        assert str(attrs["ucrenew.operation"]).split()[0] in ("GET", "POST")
        text = span.name + repr(attrs)
        assert "BEGIN" not in text and "REQUEST" not in text
    assert any(
        str(s.attributes and s.attributes["ucrenew.operation"]).startswith("POST") for s in finished
    )
