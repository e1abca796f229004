"""Fixtures of the service tests: a users file, settings, the app on an in-memory transport,
and signing in through the real login form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from service.app import create_app
from service.settings import ServiceSettings
from service.users import add_user
from workers.settings import UcrenewSettings

SESSION_KEY = "k" * 48

#: name -> (password, groups)
USERS: dict[str, tuple[str, list[str]]] = {
    "requester": ("requester-password-1", ["voice-engineers"]),
    "approver1": ("approver1-password-1", ["change-board"]),
    "approver2": ("approver2-password-1", ["change-board"]),
    "outsider": ("outsider-password-1", ["helpdesk"]),
    "pki-admin": ("pki-admin-password-1", ["pki-admins"]),
}


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("service") / "users.yaml"
    for name, (password, groups) in USERS.items():
        add_user(path, name, password, groups, name.title())
    return path


@pytest.fixture
def session_key_ref(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UCRENEW_TEST_SESSION_KEY", SESSION_KEY)
    return "env:UCRENEW_TEST_SESSION_KEY"


@pytest.fixture
def make_settings(
    users_file: Path, session_key_ref: str, tmp_path: Path
) -> Callable[..., ServiceSettings]:
    def make(**fields: Any) -> ServiceSettings:
        data: dict[str, Any] = {
            "session_key": session_key_ref,
            "users_file": users_file,
            "ucrenew": UcrenewSettings(state_dir=tmp_path / "state"),
            **fields,
        }
        return ServiceSettings(**data)

    return make


def asgi_client(app: Any, client_addr: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client calling ``app`` in memory, as if from ``client_addr``."""
    transport = httpx.ASGITransport(app=app, client=(client_addr, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8480")


@pytest_asyncio.fixture(loop_scope="session")
async def web(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of a service without Temporal (sign-in and tokens only)."""
    async with asgi_client(create_app(make_settings())) as client:
        yield client


def page_csrf(html: str) -> str:
    """The CSRF token a page carries."""
    found = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf" value="([^"]+)"', html
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, name: str, password: str | None = None) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "username": name,
            "password": password if password is not None else USERS[name][0],
            "csrf": page_csrf(form.text),
            "next": "/account",
        },
    )
    assert response.status_code == 303, response.text
    return page_csrf((await client.get("/account")).text)
