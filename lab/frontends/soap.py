"""Control Center Services and AXL SOAP of a twin node."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Register the SOAP routes on a node's application."""
