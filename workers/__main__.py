"""``python -m workers``: run a ucrenew worker with settings from ``UCRENEW_*``."""

import asyncio
import os
import sys

from activities.clients.ca.errors import CaConfigurationError
from workers.health import HealthEndpointError
from workers.logs import configure_logging
from workers.settings import SettingsError, load_settings
from workers.telemetry import TelemetryConfigError
from workers.temporal_connect import TemporalConnectError
from workers.wiring import run_worker

try:
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level, settings.library_log_level)
    asyncio.run(run_worker(settings))
except (
    SettingsError,
    TemporalConnectError,
    HealthEndpointError,
    TelemetryConfigError,
    CaConfigurationError,
) as err:
    # One line naming the UCRENEW_* setting (or the local CA's reference) to fix; the exit
    # status lets the supervisor (Kubernetes, systemd) restart the worker with backoff.
    sys.stderr.write(f"error: {err}\n")
    sys.stderr.flush()
    # Not sys.exit: the SDK's runtime threads, left behind by the failed connection, can abort
    # the interpreter's finalization ("Fatal Python error: PyGILState_Release", exit 134).
    os._exit(1)
