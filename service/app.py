"""The service's ASGI app: sessions, error shape, routers, and the Temporal connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware.sessions import SessionMiddleware

from activities.clients.secrets import SecretRefError, resolve_secret_ref
from service.errors import install_handlers
from service.settings import ServiceSettings
from service.users import LoginThrottle
from workers.health import TemporalProbe

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["SESSION_COOKIE", "ServiceConfigError", "create_app"]

log = logging.getLogger("ucrenew.service")

SESSION_COOKIE = "ucrenew_session"
MIN_SESSION_KEY_LENGTH = 32


class ServiceConfigError(ValueError):
    """The service's settings cannot work (said with what to set)."""


def _session_key(settings: ServiceSettings) -> str:
    if settings.session_key is None:
        raise ServiceConfigError(
            "UCRENEW_SERVICE_SESSION_KEY is not set: give a reference (env:NAME or file:PATH) "
            f"to a random key of at least {MIN_SESSION_KEY_LENGTH} characters, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))' > session.key`"
        )
    try:
        key = resolve_secret_ref(settings.session_key)
    except SecretRefError as err:
        raise ServiceConfigError(f"session key: {err}") from None
    if len(key) < MIN_SESSION_KEY_LENGTH:
        raise ServiceConfigError(
            f"session key {settings.session_key!r} is shorter than "
            f"{MIN_SESSION_KEY_LENGTH} characters"
        )
    return key


async def _connect(app: FastAPI, settings: ServiceSettings) -> None:
    """Connect to Temporal, and keep trying while it does not answer: sign-in and pages work
    meanwhile, and actions answer 503 ``temporal-unavailable``."""
    from workers.wiring import connect

    address = settings.ucrenew.temporal_address
    delay = 1.0
    while app.state.client is None:
        try:
            app.state.client = await connect(settings.ucrenew)
        except RuntimeError as err:
            # A TemporalConnectError names the UCRENEW_TEMPORAL_* setting to fix; retried all
            # the same, as a mounted secret or a starting frontend can cure it.
            log.error("%s; retrying in %.0f s", " ".join(str(err).split())[:600], delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        else:
            log.info("service connected to Temporal at %s", address)


def create_app(settings: ServiceSettings, client: Client | None = None) -> FastAPI:
    """Build the service.

    Args:
        settings: The service's settings.
        client: A connected Temporal client; when ``None`` the app connects at start-up
            (``workers.wiring.connect``, with the shared data converter), retrying in the
            background while Temporal does not answer.

    Returns:
        The app; ``app.state.client`` is the Temporal client, ``app.state.settings`` the
        settings.

    Raises:
        ServiceConfigError: The session key or the OIDC client secret cannot be resolved.
    """
    key = _session_key(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if app.state.client is None:
            task = asyncio.create_task(_connect(app, settings))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="ucrenew",
        summary="Certificate renewals on Cisco UC clusters: actions, sign-in and dashboard",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.client = client
    app.state.session_key = key
    app.state.throttle = LoginThrottle(settings.login_max_failures, settings.login_lockout_seconds)
    app.state.oauth = None
    if settings.oidc_enabled:
        from service.oidc import build_oauth

        app.state.oauth = build_oauth(settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    install_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, object]:
        """Liveness for probes and `ucrenew dev up`: this process, and whether it has reached
        Temporal yet (it keeps retrying until it has)."""
        return {"status": "ok", "pid": os.getpid(), "temporal": app.state.client is not None}

    probe = TemporalProbe()

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Readiness: connected to Temporal, and Temporal answered within a few seconds; 503
        before, so a rollout waits and a load balancer sends no action that would fail."""
        client = app.state.client
        if client is None:
            return JSONResponse({"status": "connecting"}, status_code=503)
        answered, error = await probe.answers(client)
        if not answered:
            return JSONResponse({"status": "temporal-unreachable", "error": error}, status_code=503)
        return JSONResponse({"status": "ready"})

    from service import api, auth, campaigns, codec, dashboard
    from service.dashboard import campaign_pages

    for router in (
        auth.router,
        api.router,
        campaigns.router,
        dashboard.router,
        campaign_pages.router,
        codec.router,
    ):
        app.include_router(router)
    return app
