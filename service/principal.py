"""Who is acting: the signed-in person, as every part of the service sees them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Principal"]


class Principal(BaseModel):
    """A signed-in person.

    Attributes:
        name: The stable user name (local user, OIDC ``preferred_username``/``sub``, or the
            proxy's user header); what the audit trail and four-eyes rules compare.
        groups: Groups from the identity source (users file, OIDC claim, proxy header).
        display_name: How to greet them; the name when empty.
        via: How they signed in.
    """

    name: str = Field(min_length=1)
    groups: list[str] = Field(default_factory=list)
    display_name: str = ""
    via: Literal["password", "oidc", "proxy", "token"]

    @property
    def shown(self) -> str:
        """The display name, else the name."""
        return self.display_name or self.name
