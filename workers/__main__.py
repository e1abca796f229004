"""``python -m workers``: run a ucrenew worker with settings from ``UCRENEW_*``."""

import asyncio

from workers.logs import configure_logging
from workers.settings import UcrenewSettings
from workers.wiring import run_worker

settings = UcrenewSettings()
configure_logging(settings.log_format, settings.log_level, settings.library_log_level)
asyncio.run(run_worker(settings))
