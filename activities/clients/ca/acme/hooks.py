"""The dns-01 hook: what publishes and withdraws the TXT record an ACME CA validates.

dns-01 is the only challenge ucrenew answers (CUCM and IM&P nodes cannot serve http-01 or
tls-alpn-01 tokens). :class:`DnsHook` is the interface the backend calls;
:class:`CommandDnsHook` is the hook ucrenew ships, an operator-provided executable in the
style of certbot's manual hooks. Hooks are coroutines and raise
:class:`~activities.clients.ca.errors.CaError` subclasses on failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Protocol, runtime_checkable

from activities.clients.ca.errors import CaConfigurationError, CaUnavailable

__all__ = ["CommandDnsHook", "DnsHook"]

logger = logging.getLogger(__name__)


@runtime_checkable
class DnsHook(Protocol):
    """Publishes and removes the TXT record of a dns-01 challenge.

    The record is ``_acme-challenge.<domain>.`` with value ``validation``. :meth:`present`
    returns once the record is visible to the CA (the hook waits for propagation itself).
    Hooks raise :class:`~activities.clients.ca.errors.CaError` subclasses on failure.
    """

    async def present(self, domain: str, validation: str) -> None:
        """Publish the TXT record.

        Args:
            domain: The identifier being validated (no ``_acme-challenge.`` prefix, no dot).
            validation: The TXT record value.
        """
        ...

    async def cleanup(self, domain: str, validation: str) -> None:
        """Remove the TXT record published by :meth:`present`.

        Args:
            domain: The identifier that was validated.
            validation: The TXT record value that was published.
        """
        ...


class CommandDnsHook:
    """dns-01 through an operator-provided executable, in the style of certbot manual hooks.

    The executable is run as ``argv... ACTION DOMAIN VALIDATION`` where ACTION is ``present``
    or ``cleanup``, DOMAIN the identifier (the record to set is ``_acme-challenge.DOMAIN.``)
    and VALIDATION the TXT value. Exit status 0 means done; ``present`` must not exit before
    the record is visible on the zone's authoritative servers. Its output is logged on
    failure, never put into errors (it may echo credentials).

    Attributes:
        argv: The command and its fixed leading arguments.
        timeout: Seconds one run may take before it is killed.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Build the hook.

        Args:
            argv: The command and its fixed leading arguments (not run through a shell).
            timeout: Seconds one run may take before it is killed.
            env: Extra environment variables for the command (added to this process's).

        Raises:
            ValueError: ``argv`` is empty or ``timeout`` is not positive.
        """
        if not argv:
            raise ValueError("argv must name a command")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.argv = list(argv)
        self.timeout = timeout
        self._env = dict(env) if env else None

    async def present(self, domain: str, validation: str) -> None:
        """Run ``argv present DOMAIN VALIDATION``.

        Args:
            domain: The identifier being validated.
            validation: The TXT record value.

        Raises:
            CaConfigurationError: The command cannot be run or exits non-zero.
            CaUnavailable: The command did not finish within ``timeout``.
        """
        await self._run("present", domain, validation)

    async def cleanup(self, domain: str, validation: str) -> None:
        """Run ``argv cleanup DOMAIN VALIDATION``.

        Args:
            domain: The identifier that was validated.
            validation: The TXT record value that was published.

        Raises:
            CaConfigurationError: The command cannot be run or exits non-zero.
            CaUnavailable: The command did not finish within ``timeout``.
        """
        await self._run("cleanup", domain, validation)

    async def _run(self, action: str, domain: str, validation: str) -> None:
        command = Path(self.argv[0]).name
        env = {**os.environ, **self._env} if self._env else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                action,
                domain,
                validation,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise CaConfigurationError(
                f"DNS hook {command!r} cannot be run: {exc.strerror or type(exc).__name__}"
            ) from exc
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            with suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise CaUnavailable(
                f"DNS hook {command!r} did not finish {action} for {domain} "
                f"within {self.timeout:g} s"
            ) from None
        if proc.returncode != 0:
            logger.warning(
                "DNS hook %s %s %s exited %s; stderr: %s",
                command,
                action,
                domain,
                proc.returncode,
                stderr.decode(errors="replace")[-2000:].strip(),
            )
            raise CaConfigurationError(
                f"DNS hook {command!r} exited {proc.returncode} on {action} for {domain} "
                "(see the worker log for its output)"
            )
        logger.debug("DNS hook %s %s %s done: %s", command, action, domain, stdout[-200:])
