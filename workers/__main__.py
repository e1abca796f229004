"""``python -m workers``: run a ucrenew worker with settings from ``UCRENEW_*``."""

import asyncio
import sys

from workers.logs import configure_logging
from workers.settings import SettingsError, load_settings
from workers.telemetry import TelemetryConfigError
from workers.temporal_connect import TemporalConnectError
from workers.wiring import run_worker

try:
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level, settings.library_log_level)
    asyncio.run(run_worker(settings))
except (SettingsError, TemporalConnectError, TelemetryConfigError) as err:
    # One line naming the UCRENEW_TEMPORAL_* setting to fix; the exit status lets the
    # supervisor (Kubernetes, systemd) restart the worker with backoff.
    sys.stderr.write(f"error: {err}\n")
    sys.exit(1)
