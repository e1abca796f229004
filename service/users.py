"""The local users file: names, display names, groups and argon2id password hashes.

```yaml
users:
  - name: alice
    display_name: Alice Example
    groups: [voice-engineers, change-board]
    password_hash: $argon2id$v=19$m=65536,t=3,p=4$...
```

Only hashes are stored (argon2id through ``argon2-cffi``). A wrong user name and a wrong
password get the same answer and cost the same time (an unknown name is checked against a
dummy hash), and :class:`LoginThrottle` refuses further attempts after repeated failures.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.principal import Principal

__all__ = [
    "LoginThrottle",
    "UserEntry",
    "UsersFile",
    "UsersFileError",
    "add_user",
    "hash_password",
    "load_users",
]

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _HASHER.hash("ucrenew: a password nobody has")
MIN_PASSWORD_LENGTH = 12


class UsersFileError(ValueError):
    """The users file is missing, unreadable or malformed."""


class UserEntry(BaseModel):
    """One local user."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._@-]+$")
    display_name: str = ""
    groups: list[str] = Field(default_factory=list)
    password_hash: str = Field(pattern=r"^\$argon2id\$")

    def principal(self) -> Principal:
        """This user, signed in with a password."""
        return Principal(
            name=self.name, groups=self.groups, display_name=self.display_name, via="password"
        )


class UsersFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    users: list[UserEntry] = Field(default_factory=list)

    def find(self, name: str) -> UserEntry | None:
        """The user of that name (case-insensitive), if any."""
        wanted = name.strip().casefold()
        return next((u for u in self.users if u.name.casefold() == wanted), None)

    def authenticate(self, name: str, password: str) -> Principal | None:
        """The user's principal when the password matches, else ``None``.

        An unknown user is checked against a dummy hash, so both failures take as long.
        """
        user = self.find(name)
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return user.principal() if user else None


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``.

    Raises:
        ValueError: Shorter than :data:`MIN_PASSWORD_LENGTH` characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def load_users(path: Path) -> UsersFile:
    """Read and check a users file; an absent file has no users.

    Raises:
        UsersFileError: Unreadable, not YAML, or not the expected shape (said per field).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UsersFile()
    except OSError as err:
        raise UsersFileError(f"users file {path}: unreadable ({err.strerror})") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise UsersFileError(f"users file {path}: not valid YAML ({err})") from None
    try:
        return UsersFile.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise UsersFileError(f"users file {path}: {problems}") from None


def add_user(
    path: Path, name: str, password: str, groups: list[str], display_name: str = ""
) -> bool:
    """Add a user, or replace their hash, groups and display name; the file stays mode 0600.

    Returns:
        True when the user was new.

    Raises:
        UsersFileError: The existing file is malformed.
        ValueError: The password is too short or the name is not a plain user name.
    """
    users = load_users(path)
    entry = UserEntry(
        name=name, display_name=display_name, groups=groups, password_hash=hash_password(password)
    )
    existing = users.find(name)
    kept = [u for u in users.users if u is not existing]
    users = UsersFile(users=[*kept, entry])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        yaml.safe_dump(users.model_dump(), out, sort_keys=False)
    os.replace(tmp, path)
    return existing is None


class LoginThrottle:
    """Counts failed sign-ins per (user name, client address) and refuses for a while after
    too many; a success clears the count. In memory: one service process per deployment."""

    def __init__(self, max_failures: int, lockout_seconds: float) -> None:
        self._max = max_failures
        self._lockout = lockout_seconds
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(name: str, client: str) -> tuple[str, str]:
        return name.strip().casefold(), client

    def retry_after(self, name: str, client: str) -> float:
        """Seconds until another attempt is allowed (0 when allowed now)."""
        now = time.monotonic()
        with self._lock:
            recent = [
                t
                for t in self._failures.get(self._key(name, client), [])
                if now - t < self._lockout
            ]
            if len(recent) < self._max:
                return 0.0
            return max(0.0, self._lockout - (now - recent[-self._max]))

    def failed(self, name: str, client: str) -> None:
        """Count a failed attempt."""
        now = time.monotonic()
        with self._lock:
            key = self._key(name, client)
            recent = [t for t in self._failures.get(key, []) if now - t < self._lockout]
            self._failures[key] = [*recent, now][-self._max :]

    def succeeded(self, name: str, client: str) -> None:
        """Clear the count after a successful sign-in."""
        with self._lock:
            self._failures.pop(self._key(name, client), None)
