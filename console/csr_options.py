"""The CSR options of ``ucrenew start`` and ``ucrenew plan``: key, hash, other domains, validity.

The key type follows the purpose (RSA for tomcat, CallManager and cup-xmpp*, EC for the
-ECDSA purposes); ``--key-length`` sizes the RSA keys and ``--ec-key-length`` the EC ones.
Values CUCM does not offer (cucm-interfaces.md §1.2) are usage errors that list the valid ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from activities import catalog

if TYPE_CHECKING:
    from workflows.models import RenewalOptions

__all__ = [
    "EcKeyLength",
    "Hash",
    "HashChoice",
    "KeyLength",
    "MinRemainingDays",
    "OtherDomains",
    "build_options",
    "csr_warnings",
]

#: The CLI flag of each RenewalOptions field set from the command line.
FLAGS: dict[str, str] = {
    "key_length": "--key-length",
    "ec_key_length": "--ec-key-length",
    "hash_algorithm": "--hash",
    "other_domains": "--other-domain",
    "min_remaining_days": "--min-remaining-days",
    "phone_reset_batch": "--phone-reset-batch",
}


class HashChoice(StrEnum):
    """``--hash`` values (cucm-interfaces.md §1.2)."""

    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"


def _rsa_length(value: int) -> int:
    allowed = ", ".join(map(str, catalog.RSA_KEY_LENGTHS))
    if value in catalog.REFUSED_RSA_KEY_LENGTHS:
        raise typer.BadParameter(f"{catalog.REFUSED_RSA_KEY_LENGTHS[value]}; use {allowed}")
    if value not in catalog.RSA_KEY_LENGTHS:
        raise typer.BadParameter(f"{value} is not an RSA key length CUCM offers: use {allowed}")
    return value


def _ec_length(value: int) -> int:
    if value not in catalog.EC_KEY_LENGTHS:
        allowed = " or ".join(map(str, catalog.EC_KEY_LENGTHS))
        raise typer.BadParameter(f"{value} is not an EC key length CUCM offers: use {allowed}")
    return value


KeyLength = Annotated[
    int,
    typer.Option(
        "--key-length",
        callback=_rsa_length,
        help="RSA key of the RSA purposes' CSRs (tomcat, CallManager, cup-xmpp*): "
        + ", ".join(map(str, catalog.RSA_KEY_LENGTHS))
        + " (1024 is refused; some phones fail with a CallManager key above 2048)",
    ),
]
EcKeyLength = Annotated[
    int,
    typer.Option(
        "--ec-key-length",
        callback=_ec_length,
        help="EC key of the -ECDSA purposes' CSRs: "
        + " or ".join(map(str, catalog.EC_KEY_LENGTHS))
        + " (384 needs --hash sha384 or sha512)",
    ),
]
Hash = Annotated[
    HashChoice,
    typer.Option(
        "--hash",
        case_sensitive=False,
        help="the CSRs' hash algorithm, at least as strong as the key",
    ),
]
OtherDomains = Annotated[
    list[str] | None,
    typer.Option(
        "--other-domain",
        help="extra SAN of the CSRs (CUCM's Other Domains), e.g. a service name (repeatable; "
        "no wildcards)",
    ),
]
MinRemainingDays = Annotated[
    int,
    typer.Option(
        "--min-remaining-days",
        min=1,
        help="refuse a signed certificate valid for fewer days than this",
    ),
]

#: The defaults of the options above: RenewalOptions' (a test holds them equal). Written out
#: rather than read from the model so that ``ucrenew --help`` need not import pydantic and the
#: workflow models.
DEFAULT_KEY_LENGTH: int = 2048
DEFAULT_EC_KEY_LENGTH: int = 256
DEFAULT_HASH = HashChoice.SHA256
DEFAULT_MIN_REMAINING_DAYS: int = 30


def build_options(**fields: Any) -> RenewalOptions:
    """The change's options, or a usage error naming the flags and what they accept.

    Args:
        **fields: RenewalOptions fields as the command line gives them.

    Returns:
        The validated options.

    Raises:
        typer.BadParameter: A value, or a combination (a hash weaker than the key), that
            CUCM does not allow (a usage error: exit code 2).
    """
    from pydantic import ValidationError

    from activities.clients.validation import field_path
    from workflows.models import RenewalOptions

    try:
        return RenewalOptions.model_validate(fields)
    except ValidationError as exc:
        reasons: list[str] = []
        hints: list[str] = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = error["loc"]
            reason = str(error["msg"]).removeprefix("Value error, ")
            for field, flag in FLAGS.items():
                reason = reason.replace(f"({field})", f"({flag})").replace(f"{field} ", f"{flag} ")
            hints.append(
                FLAGS.get(str(loc[0]), field_path(loc)) if loc else FLAGS["hash_algorithm"]
            )
            reasons.append(reason)
        raise typer.BadParameter(
            "; ".join(reasons), param_hint=" / ".join(dict.fromkeys(hints))
        ) from None


def csr_warnings(purposes: Sequence[str], options: RenewalOptions) -> list[str]:
    """What an operator should know about the CSR options chosen (never a refusal)."""
    risky = sorted(p for p in purposes if p in catalog.LARGE_RSA_KEY_RISK)
    if risky and options.key_length > 2048:
        return [
            f"{', '.join(risky)} with a {options.key_length}-bit RSA key: some phones fail to "
            "register with a CallManager key above 2048 bits (cucm-interfaces.md §1.2); "
            "check your phone models first"
        ]
    return []
