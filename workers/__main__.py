"""``python -m workers``: run a ucrenew worker with settings from ``UCRENEW_*``."""

import asyncio
import logging

from workers.settings import UcrenewSettings
from workers.wiring import run_worker

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
asyncio.run(run_worker(UcrenewSettings()))
