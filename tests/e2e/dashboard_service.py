"""The ucrenew service on a loopback port for end-to-end and browser tests: local users (a
users file with argon2id hashes), a session key by reference, and the stack's Temporal
client and inventory."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import yaml
from fastapi import FastAPI
from temporalio.client import Client

from service.app import create_app
from service.principal import Principal
from service.settings import ServiceSettings
from service.tokens import issue_token
from service.users import add_user
from workers.devserver import free_loopback_port
from workers.settings import UcrenewSettings

__all__ = ["PASSWORD", "RunningService", "running_service", "set_change_policy"]

PASSWORD = "correct horse battery staple"
"""Every test user's password."""


@dataclass
class RunningService:
    """A service listening on ``base_url``."""

    base_url: str
    server: uvicorn.Server
    app: FastAPI
    users: dict[str, list[str]]

    def token(self, name: str) -> str:
        """An API token of user ``name`` (what ``POST /api/v1/tokens`` hands out)."""
        principal = Principal(name=name, groups=self.users[name], via="token")
        return issue_token(self.app.state.session_key, principal, 3600).token

    def headers(self, name: str) -> dict[str, str]:
        """Request headers that authenticate as ``name``."""
        return {"Authorization": f"Bearer {self.token(name)}"}


def set_change_policy(inventory: Path, cluster: str, policy: dict[str, object]) -> None:
    """Give ``cluster`` a ``change_policy`` block in the inventory the workers and the
    service read."""
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    for entry in data["clusters"]:
        if entry["name"] == cluster:
            entry["change_policy"] = policy
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@contextlib.asynccontextmanager
async def running_service(
    client: Client,
    ucrenew: UcrenewSettings,
    state_dir: Path,
    users: dict[str, list[str]],
    refresh_seconds: float = 0.5,
) -> AsyncIterator[RunningService]:
    """The service on a free loopback port with ``users`` (name -> groups), all with
    :data:`PASSWORD`, for as long as the context lasts."""
    from service.dashboard.settings import DashboardSettings

    state_dir.mkdir(parents=True, exist_ok=True)
    users_file = state_dir / "users.yaml"
    for name, groups in users.items():
        add_user(users_file, name, PASSWORD, groups, display_name=name.title())
    key_file = state_dir / "session.key"
    key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
    port = free_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = ServiceSettings(
        listen=f"127.0.0.1:{port}",
        base_url=base_url,
        users_file=users_file,
        session_key=f"file:{key_file}",
        ucrenew=ucrenew,
    )
    app = create_app(settings, client)
    app.state.dashboard_settings = DashboardSettings(
        refresh_seconds=refresh_seconds, query_timeout_seconds=2.0
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            # open event streams end only when their clients go: cut them short at the end
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the service stopped while starting")
            await asyncio.sleep(0.02)
        yield RunningService(base_url, server, app, users)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        feed = getattr(app.state, "dashboard_feed", None)
        if feed is not None:
            await feed.close()
