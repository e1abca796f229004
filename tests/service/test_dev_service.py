"""``ucrenew dev up``'s service start: another process answering on the chosen address is
never taken for the service that was just started."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import dev_service
from workers.devserver import free_loopback_port
from workers.settings import UcrenewSettings


class _Impostor(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<form><input name=password></form>")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def taken_port() -> Iterator[int]:
    port = free_loopback_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_held_by_another_process_is_an_error_not_a_started_service(
    taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UCRENEW_SERVICE_LISTEN", f"127.0.0.1:{taken_port}")
    settings = UcrenewSettings(
        state_dir=tmp_path / "state", temporal_address=f"127.0.0.1:{free_loopback_port()}"
    )
    try:
        with pytest.raises(RuntimeError) as failed:
            dev_service.start(settings, wait_seconds=30)
        assert f"127.0.0.1:{taken_port} taken" in str(failed.value)
        assert "address already in use" in str(failed.value)
        assert dev_service.describe(settings) is None
    finally:
        dev_service.stop(settings)
