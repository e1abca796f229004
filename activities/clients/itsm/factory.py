"""Building the ITSM adapter a cluster's configuration names (secrets resolved here)."""

from __future__ import annotations

from pathlib import Path

import httpx

from activities.clients.itsm.base import ItsmClient
from activities.clients.itsm.errors import ItsmConfigError
from activities.clients.itsm.models import ItsmConfig
from activities.clients.itsm.servicenow import ServiceNowItsm
from activities.clients.itsm.webhook import WebhookItsm
from activities.clients.secrets import SecretRefError, resolve_secret_ref


def itsm_client(
    config: ItsmConfig,
    base_dir: Path | str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ItsmClient:
    """The adapter for ``config``, its secrets resolved relative to ``base_dir``.

    Raises:
        ItsmConfigError: A secret reference or the CA bundle cannot be read (the message names
            the reference, never a value).
    """
    if config.ca_file is not None and base_dir is not None:
        ca = Path(config.ca_file)
        if not ca.is_absolute():
            config = config.model_copy(update={"ca_file": str(Path(base_dir) / ca)})
    try:
        if config.kind == "webhook":
            assert config.secret is not None  # the model validator requires it
            secret = resolve_secret_ref(config.secret, base_dir)
            return WebhookItsm(config, secret=secret, transport=transport)
        if config.credentials is not None:
            password = resolve_secret_ref(config.credentials.password, base_dir)
            return ServiceNowItsm(config, password=password, transport=transport)
        assert config.token is not None  # the model validator requires one of the two
        token = resolve_secret_ref(config.token, base_dir)
        return ServiceNowItsm(config, token=token, transport=transport)
    except SecretRefError as err:
        raise ItsmConfigError(config.kind, f"itsm: {err}") from None
