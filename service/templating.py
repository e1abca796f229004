"""The service's Jinja2 templates (``service/templates``), with the CSRF token at hand."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from service.deps import csrf_token

__all__ = ["templates"]

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["csrf_token"] = csrf_token
