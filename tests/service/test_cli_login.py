"""``ucrenew users add``, ``login``, ``logout`` and ``serve`` as an operator runs them, against
a service on loopback (sign-in and tokens only: no Temporal needed)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from service.app import create_app
from service.settings import ServiceSettings
from tests.service.conftest import SESSION_KEY, USERS
from workers.devserver import free_loopback_port

UCRENEW = str(Path(sys.executable).parent / "ucrenew")


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def ucrenew(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        UCRENEW,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UCRENEW_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), COLUMNS="200")
    return env


async def test_users_add_writes_only_a_hash_and_refuses_short_passwords(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    users = tmp_path / "users.yaml"
    code, out, err = await ucrenew(
        env,
        "users",
        "add",
        "dana",
        "--group",
        "change-board",
        "--group",
        "voice-cab",
        "--file",
        str(users),
        "--password-stdin",
        stdin="dana-password-123\n",
    )
    assert code == 0, err
    assert "added dana" in out
    text = users.read_text()
    assert "dana-password-123" not in text and "$argon2id$" in text
    assert users.stat().st_mode & 0o777 == 0o600
    entry = yaml.safe_load(text)["users"][0]
    assert entry["groups"] == ["change-board", "voice-cab"]
    code, _, err = await ucrenew(
        env, "users", "add", "eve", "--file", str(users), "--password-stdin", stdin="short\n"
    )
    assert code == 2 and "at least 12 characters" in err
    assert "eve" not in users.read_text()


async def test_login_stores_a_token_and_logout_forgets_it(
    make_settings: Callable[..., ServiceSettings], tmp_path: Path
) -> None:
    env = clean_env(tmp_path)
    credentials = tmp_path / "config" / "ucrenew" / "credentials.json"
    async with serving(create_app(make_settings())) as url:
        code, _, err = await ucrenew(
            env,
            "login",
            "--server",
            url,
            "--user",
            "approver1",
            "--password-stdin",
            stdin="not-the-password\n",
        )
        assert code == 3 and "bad-credentials" in err and not credentials.exists()
        code, out, err = await ucrenew(
            env,
            "login",
            "--server",
            url,
            "--user",
            "approver1",
            "--password-stdin",
            stdin=USERS["approver1"][0] + "\n",
        )
        assert code == 0, err
        assert credentials.stat().st_mode & 0o777 == 0o600
        assert USERS["approver1"][0] not in credentials.read_text()
        # A token from the account page, pasted; a tampered one is refused.
        from service.principal import Principal
        from service.tokens import issue_token

        olivia = Principal(name="olivia", groups=["change-board"], via="oidc")
        token = issue_token(SESSION_KEY, olivia, 600).token
        code, _, err = await ucrenew(
            env, "login", "--server", url, "--token-stdin", stdin=token[:-3] + "abc\n"
        )
        assert code == 3 and "bad-token" in err
        code, out, err = await ucrenew(
            env, "login", "--server", url, "--token-stdin", stdin=token + "\n"
        )
        assert code == 0 and "as olivia" in out, err
    code, out, _ = await ucrenew(env, "logout")
    assert code == 0 and not credentials.exists()


async def test_half_a_server_configuration_is_a_usage_error(tmp_path: Path) -> None:
    env = {**clean_env(tmp_path), "UCRENEW_SERVER": "http://127.0.0.1:9"}
    code, _, err = await ucrenew(env, "reject", "CHG1")
    assert code == 2 and "UCRENEW_TOKEN is not set" in err


async def test_serve_without_a_session_key_says_what_to_set(tmp_path: Path) -> None:
    code, _, err = await ucrenew(clean_env(tmp_path), "serve", "--listen", "127.0.0.1:1")
    assert code == 2 and "UCRENEW_SERVICE_SESSION_KEY is not set" in err
    assert "Traceback" not in err
    env = {**clean_env(tmp_path), "UCRENEW_SERVICE_SESSION_KEY": "s3cr3t-pasted-literally"}
    code, _, err = await ucrenew(env, "serve")
    assert code == 2 and "s3cr3t-pasted-literally" not in err and "reference" in err
