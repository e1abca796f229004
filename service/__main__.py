"""``python -m service``: run the ucrenew service with settings from the environment."""

import sys

from service.app import ServiceConfigError
from service.server import load_settings, run

try:
    run(load_settings())
except ServiceConfigError as err:
    sys.stderr.write(f"error: {err}\n")
    sys.exit(2)
