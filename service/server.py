"""Running the service: settings from the environment, the app, uvicorn in the foreground."""

from __future__ import annotations

import logging

from pydantic import ValidationError

from service.app import ServiceConfigError, create_app
from service.settings import ServiceSettings, parse_listen

__all__ = ["describe_settings_error", "load_settings", "run"]

log = logging.getLogger("ucrenew.service")


def describe_settings_error(err: ValidationError) -> str:
    """The variables that do not validate and why, without their values."""
    return "; ".join(
        f"UCRENEW_SERVICE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
        for e in err.errors()
    )


def load_settings(listen: str | None = None) -> ServiceSettings:
    """Settings from ``UCRENEW_SERVICE_*`` (and ``UCRENEW_*``), with ``listen`` overriding.

    Raises:
        ServiceConfigError: A variable does not validate (said per variable).
    """
    try:
        if listen:
            return ServiceSettings(listen=listen)
        return ServiceSettings()
    except ValidationError as err:
        raise ServiceConfigError(f"service settings: {describe_settings_error(err)}") from None


def run(settings: ServiceSettings) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn drains open requests first).

    Raises:
        ServiceConfigError: The session key or OIDC secret cannot be resolved.
    """
    import uvicorn

    from workers.logs import configure_logging

    core = settings.ucrenew
    configure_logging(core.log_format, core.log_level, core.library_log_level)
    app = create_app(settings)
    host, port = parse_listen(settings.listen)
    log.info("ucrenew service on %s (listening on %s:%s)", settings.base_url, host, port)
    # proxy_headers off: client addresses must be the real peers for the trusted-proxy check.
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=False)
