"""A dns-01 command hook for pebble-challtestsrv, written as an operator's hook script would be.

Usage: ``challtestsrv_dns_hook.py BASE_URL LOG ACTION DOMAIN VALUE``. ``ACTION DOMAIN VALUE``
are what :class:`~activities.clients.ca.acme.hooks.CommandDnsHook` appends; ``present`` sets
the ``_acme-challenge`` TXT record, ``cleanup`` clears it, and each run appends
``ACTION DOMAIN`` to ``LOG``.
"""

from __future__ import annotations

import sys

import httpx


def main(argv: list[str]) -> None:
    """Set or clear the record, then log the run."""
    base, log, action, domain, value = argv
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
