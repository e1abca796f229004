"""How often an SSH login refused (password or port) is tried again before it is reported.

A node can refuse a right password now and then (its admin sessions are all taken, PAM is
slow under load) and accept it a second later; a wrong password is refused every time. The
two look the same on the wire, so the difference is what the account did before:

- an account that has never logged in on the cluster from this worker gets
  :data:`FIRST_TRIES` tries, as many as a stock ``ssh`` client asks for a password
  (OpenSSH ``NumberOfPasswordPrompts``, default 3, ssh_config(5)), and then a clear error
  that names the password, within seconds;
- an account the cluster accepted within :data:`KNOWN_GOOD_SECONDS` gets :data:`KNOWN_TRIES`
  tries, waiting :data:`WAIT_SECONDS` longer each time (up to :data:`MAX_WAIT_SECONDS`), so
  a refusal at one in five does not stop a renewal, while a password changed mid-change
  still ends in a clear error.

The memory is this worker process's only, keyed by cluster, user name and a digest of the
password (never the password itself).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable

#: Tries of an account the cluster has not accepted yet (OpenSSH's NumberOfPasswordPrompts).
FIRST_TRIES = 3
#: Tries of an account the cluster accepted lately: a refusal at one in five then fails a
#: login about once in 400,000 (six tries failed one matrix renewal in about a dozen).
KNOWN_TRIES = 8
#: How long an accepted login vouches for the password (seconds): a renewal's steps follow
#: each other within minutes, a CA wait can take days (then the first login is a first again).
KNOWN_GOOD_SECONDS = 3600.0
#: The first wait after a refusal (seconds); each further wait is one more of these, up to
#: :data:`MAX_WAIT_SECONDS`.
WAIT_SECONDS = 1.0
#: The longest wait between two password tries (seconds).
MAX_WAIT_SECONDS = 4.0
#: Tries of a connection the node's SSH port refused (closed port, nothing sent): the waits
#: (1, 2, 4 s) ride out sshd restarting or a node's network flapping for a few seconds; a
#: node that stays closed is reported unreachable as before. Timeouts are not repeated here:
#: each already took the endpoint's whole connect timeout.
CLOSED_TRIES = 4

Clock = Callable[[], float]

#: How the client waits between tries (tests replace it to act in between).
sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def _key(cluster: str, node: str, username: str, password: str) -> tuple[str, str, str]:
    digest = hashlib.sha256(password.encode()).hexdigest()
    return (cluster or node, username, digest)


class LoginMemory:
    """When each account last logged in on each cluster (this process only)."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._accepted: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def accepted(self, cluster: str, node: str, username: str, password: str) -> None:
        """Record a login the node accepted."""
        with self._lock:
            self._accepted[_key(cluster, node, username, password)] = self._clock()

    def known_good(self, cluster: str, node: str, username: str, password: str) -> bool:
        """Whether the cluster accepted this account within :data:`KNOWN_GOOD_SECONDS`."""
        with self._lock:
            at = self._accepted.get(_key(cluster, node, username, password))
        return at is not None and self._clock() - at <= KNOWN_GOOD_SECONDS

    def tries(self, cluster: str, node: str, username: str, password: str) -> int:
        """How many tries a login of this account gets in all."""
        if self.known_good(cluster, node, username, password):
            return KNOWN_TRIES
        return FIRST_TRIES

    def forget(self) -> None:
        """Forget every login (tests)."""
        with self._lock:
            self._accepted.clear()


#: The worker's memory of accepted logins.
LOGINS = LoginMemory()
