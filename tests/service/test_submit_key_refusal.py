"""The service's submit-cert (the API and the dashboard form, which posts to it) refuses a
private key before Temporal is asked anything: this service has no Temporal at all, so any
answer but the refusal would be ``503 temporal-unavailable``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from service.app import create_app
from service.principal import Principal
from service.settings import ServiceSettings
from service.tokens import issue_token
from tests.service.conftest import SESSION_KEY, asgi_client

KEY_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    .decode()
)
CERT = "-----BEGIN CERTIFICATE-----\nMIIBLTCB1KADAgECAgEBMAoG\n-----END CERTIFICATE-----\n"


def _auth() -> dict[str, str]:
    principal = Principal(name="pat", groups=["pki-admins"], via="password")
    return {"Authorization": f"Bearer {issue_token(SESSION_KEY, principal, 600).token}"}


@pytest.mark.parametrize("field", ["certificate_pem", "chain_pem", "comment"])
async def test_a_submission_with_a_key_is_refused_before_temporal(
    make_settings: Callable[..., ServiceSettings], field: str
) -> None:
    body = {"certificate_pem": CERT, "chain_pem": CERT, "comment": "signed", field: CERT + KEY_PEM}
    async with asgi_client(create_app(make_settings())) as client:
        r = await client.post("/api/v1/renewals/CHG1/submit-cert", json=body, headers=_auth())
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "private-key"
    assert "'ENCRYPTED PRIVATE KEY'" in error["message"] and "never leaves" in error["message"]
    assert KEY_PEM.splitlines()[2] not in r.text


async def test_a_clean_submission_goes_on_to_temporal(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    body = {"certificate_pem": CERT, "chain_pem": CERT}
    async with asgi_client(create_app(make_settings())) as client:
        r = await client.post("/api/v1/renewals/CHG1/submit-cert", json=body, headers=_auth())
        assert r.status_code == 503 and r.json()["error"]["code"] == "temporal-unavailable"
        nobody = await client.post(
            "/api/v1/renewals/CHG1/submit-cert", json={"certificate_pem": CERT + KEY_PEM}
        )
    assert nobody.status_code == 401  # who you are comes first, even before the key check


async def test_a_key_in_any_other_action_is_a_422_not_a_crash(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    """Any action's text (an approval comment, a cancellation reason) goes through the
    converter, whose guard raises before sending: the service answers 422 ``private-key``."""
    from activities.clients.key_material import refuse_key_material

    app = create_app(make_settings())

    async def comment_with_a_key() -> None:
        refuse_key_material(KEY_PEM, "a message to Temporal")

    app.add_api_route("/api/v1/test-key", comment_with_a_key, methods=["POST"])
    async with asgi_client(app) as client:
        r = await client.post("/api/v1/test-key")
    assert r.status_code == 422 and r.json()["error"]["code"] == "private-key"
    assert KEY_PEM.splitlines()[2] not in r.text
