"""The service's one error shape: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from activities.clients.key_material import KeyMaterialError

__all__ = ["ApiError", "LoginRequired", "api_error_response", "install_handlers"]


class ApiError(Exception):
    """An action or request refused, said to the caller as JSON.

    Attributes:
        status: HTTP status (401, 403, 404, 409, 422, 502, 503).
        code: A stable machine-readable reason (e.g. ``not-signed-in``, the workflow's
            refusal code such as ``self-approval``).
        message: The same, said to a person, with what to do.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class LoginRequired(Exception):
    """A page needs a signed-in person: answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def api_error_response(status: int, code: str, message: str) -> JSONResponse:
    """The JSON body of an error."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc.status, exc.code, exc.message)


async def _login_required(_request: Request, exc: Exception) -> Response:
    from urllib.parse import quote

    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


async def _invalid_request(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Field locations and messages only: inputs (a pasted certificate, a password) stay out.
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg")))
    return api_error_response(422, "invalid-request", "; ".join(parts) or "invalid request")


async def _key_material(_request: Request, exc: Exception) -> Response:
    # Raised by the converter's guard when any action's text (a comment, a reason) holds a
    # private key: nothing was sent to Temporal.
    return api_error_response(422, "private-key", str(exc))


def install_handlers(app: object) -> None:
    """Register the handlers on a FastAPI app."""
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(KeyMaterialError, _key_material)
