"""The pebble session fixture, for the ACME tests."""

from tests.ca.pebble import pebble

__all__ = ["pebble"]
