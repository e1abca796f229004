"""A dns-01 command hook for pebble-challtestsrv, written as an operator's hook script would be.

Usage: ``challtestsrv_dns_hook.py BASE_URL LOG ACTION DOMAIN VALUE``. ``ACTION DOMAIN VALUE``
are what :class:`~activities.clients.ca.acme.hooks.CommandDnsHook` appends; ``present`` sets
the ``_acme-challenge`` TXT record, ``cleanup`` clears it, and each run appends
``ACTION DOMAIN`` to ``LOG``.

For the stateless-worker test only: when ``UCRENEW_TEST_HOLD_CLEANUP`` names a file, a
``cleanup`` run creates that file and then waits (as a stuck DNS API would) until the worker
that ran it is gone, so the test can kill the worker in the middle of a CA poll.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx


def main(argv: list[str]) -> None:
    """Set or clear the record, then log the run."""
    base, log, action, domain, value = argv
    hold = os.environ.get("UCRENEW_TEST_HOLD_CLEANUP")
    if hold and action == "cleanup":
        parent = os.getppid()
        Path(hold).touch()
        # Bounded, and over as soon as the worker that started this run is killed.
        for _ in range(1200):
            if os.getppid() != parent:
                return
            time.sleep(0.1)
        return
    host = f"_acme-challenge.{domain}."
    if action == "present":
        path, body = "/set-txt", {"host": host, "value": value}
    else:
        path, body = "/clear-txt", {"host": host}
    httpx.post(base + path, json=body, timeout=10).raise_for_status()
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"{action} {domain}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
