"""``python -m workers``: run a ucrenew worker with settings from ``UCRENEW_*``."""

import asyncio
import logging
import os
import sys

from activities.clients.ca.errors import CaConfigurationError
from workers.health import HealthEndpointError
from workers.logs import configure_logging
from workers.settings import SettingsError, load_settings
from workers.telemetry import TelemetryConfigError, flush_tracing
from workers.temporal_connect import TemporalConnectError
from workers.wiring import remove_temporary_files, run_worker

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
# Drained after SIGTERM. Not a normal return either: the SDK's native threads can outlive the
# event loop and abort finalization the same way (temporalio/sdk-python#300), turning a clean
# stop into exit 134 for the supervisor. Flush what the exit hooks would have, then leave.
flush_tracing()
remove_temporary_files()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
