"""Certificate Management REST (``/platformcom/api/v1/certmgr``) of a twin node."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Register the certmgr routes on a node's application."""
