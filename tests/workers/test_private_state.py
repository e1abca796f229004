"""Owner-only state: the dev server's database (every workflow history), the state dir, and
the files ucrenew writes there are for their owner alone, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.devserver import DevServer
from workers.private_files import append_private, private_dir, tighten, write_private_text

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The laxest umask a user could have: every mode below comes from ucrenew itself."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_the_dev_servers_database_and_state_dir_are_owner_only(dev_server: DevServer) -> None:
    """The session's dev server was started by the test process under its usual umask
    (typically 022, which alone would leave the database world-readable)."""
    db = dev_server.db_filename
    assert db.is_file()
    assert mode(db) == 0o600
    for side in (db.with_name(db.name + s) for s in ("-wal", "-shm")):
        if side.exists():
            assert mode(side) == 0o600, side
    assert mode(dev_server.temporal_dir) == 0o700
    assert mode(dev_server.state_dir) == 0o700
    assert mode(dev_server.log_file) == 0o600


def test_a_database_left_world_readable_is_tightened_before_the_server_opens_it(
    tmp_path: Path, lax_umask: None
) -> None:
    server = DevServer(tmp_path / "state", port=1)
    server.temporal_dir.mkdir(parents=True)
    os.chmod(server.temporal_dir, 0o755)  # noqa: S103 - the lax state under test
    db = server.db_filename
    for path in (db, db.with_name(db.name + "-wal"), server.log_file):
        path.write_bytes(b"history")
        os.chmod(path, 0o644)
    server.prepare_state_dir()
    assert mode(server.state_dir) == 0o700 and mode(server.temporal_dir) == 0o700
    assert mode(db) == 0o600
    assert mode(db.with_name(db.name + "-wal")) == 0o600
    assert mode(server.log_file) == 0o600


def test_state_files_and_directories_are_created_owner_only(
    tmp_path: Path, lax_umask: None
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)  # noqa: S103 - a shared parent
    state = private_dir(shared / "state" / "service")
    assert mode(state) == 0o700 and mode(state.parent) == 0o700
    assert mode(shared) == 0o755  # an existing parent is not ours to change

    write_private_text(state / "service.pid", "42")
    assert mode(state / "service.pid") == 0o600
    with append_private(state / "service.log") as log:
        log.write(b"line\n")
    assert mode(state / "service.log") == 0o600

    old = state / "old.json"
    old.write_text("{}")
    os.chmod(old, 0o666)  # noqa: S103 - what an earlier version left
    write_private_text(old, "{}")  # a file an earlier version wrote
    assert mode(old) == 0o600
    os.chmod(old, 0o644)
    tighten(old, state / "missing")
    assert mode(old) == 0o600
