"""The codec endpoint: Temporal's codec server protocol, so that the people allowed to read the
renewals' encrypted payloads can, in the Temporal UI (or ``temporal --codec-endpoint``).

``POST /codec/decode`` and ``POST /codec/encode`` take and return ``{"payloads": [...]}``
(Temporal's ``Payloads`` message in protobuf JSON: metadata values and data in base64), with
the namespace in the ``X-Namespace`` header. The codec is the workers' own
(``workers.converter.codec_from_settings``: AES-256-GCM with key ids for rotation).

Who may: a signed-in person (session cookie, ``Authorization: Bearer`` token or the trusted
proxy's header) in one of the ``codec_readers`` groups; anyone else is refused (401 not signed
in, 403 not a reader). The browser may call it only from the configured Temporal UI origins
(``codec_cors_origins``), with credentials: preflights from any other origin are refused and
get no CORS headers. Payloads are never logged: a line says who decoded how many, for which
namespace.

Encoding refuses (422) a payload that holds private key material, as every ucrenew client's
converter does. Decoding and encoding change nothing, so the session's CSRF token is not
asked for (the Temporal UI cannot send it); the JSON body's content type makes every
cross-origin browser call go through the preflight.
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from activities.clients.secrets import SecretRefError
from service.deps import optional_principal, service_settings
from service.errors import ApiError
from service.principal import Principal
from workers.converter import CodecKeyError, codec_from_settings, payload_key_material

__all__ = ["MAX_BODY_BYTES", "router"]

log = logging.getLogger("ucrenew.service.codec")

router = APIRouter(tags=["codec"])

#: A request larger than a history transaction (4 MB) cannot be a payload set of Temporal's.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
_ALLOWED_HEADERS: Final = "Content-Type, X-Namespace, Authorization"
_NO_CODEC: Final = object()


def _cors(request: Request) -> dict[str, str]:
    """CORS headers for an allowed ``Origin``; none for a foreign one (or none at all)."""
    origin = request.headers.get("origin")
    if origin is None or origin.lower() not in service_settings(request).codec_cors_origins:
        return {"Vary": "Origin"}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def _error(request: Request, status: int, code: str, message: str) -> JSONResponse:
    headers = _cors(request)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _codec(request: Request) -> PayloadCodec | None:
    """The workers' payload codec, built once per app; None when no key is configured.

    Raises:
        ApiError: 503 when the key reference cannot be resolved or the key is malformed.
    """
    state = request.app.state
    codec = getattr(state, "payload_codec", None)
    if codec is None:
        try:
            codec = codec_from_settings(service_settings(request).ucrenew) or _NO_CODEC
        except (SecretRefError, CodecKeyError) as err:
            log.error("codec endpoint: the payload key cannot be used: %s", err)
            raise ApiError(
                503,
                "codec-key",
                "the service cannot use the payload key (UCRENEW_CODEC_KEY_REF): see its log",
            ) from None
        state.payload_codec = codec
    return None if codec is _NO_CODEC else codec  # type: ignore[return-value]


def _reader(request: Request) -> Principal:
    """The signed-in person, if a codec reader.

    Raises:
        ApiError: 401 nobody signed in (or a bad token), 403 not in a ``codec_readers`` group.
    """
    principal = optional_principal(request)
    if principal is None:
        raise ApiError(
            401,
            "not-signed-in",
            "sign in to the ucrenew service first (in this browser, or with "
            "'Authorization: Bearer <token>')",
        )
    readers = service_settings(request).codec_readers
    if not set(principal.groups) & set(readers):
        raise ApiError(
            403,
            "not-a-codec-reader",
            f"{principal.name} may not read encrypted payloads: the codec endpoint is for "
            + (
                f"members of {', '.join(sorted(readers))}"
                if readers
                else "nobody yet (set UCRENEW_SERVICE_CODEC_READERS to the groups that may)"
            ),
        )
    return principal


async def _payloads(request: Request) -> list[Payload]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, "not-json", "send the payloads as application/json")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "too-large", f"more than {MAX_BODY_BYTES} bytes of payloads")
    try:
        message = json_format.Parse(body, Payloads())
    except json_format.ParseError:
        # The parser's message can quote the body: say where the shape is wrong, not what.
        raise ApiError(
            422,
            "invalid-payloads",
            'the body is not {"payloads": [{"metadata": {...}, "data": "<base64>"}]}',
        ) from None
    return list(message.payloads)


def _answer(request: Request, payloads: list[Payload]) -> Response:
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    return Response(body, media_type="application/json", headers=_cors(request))


def _refuse_key_material(payloads: list[Payload]) -> None:
    """What the Temporal UI encodes here it sends to Temporal (a signal's input, say): a
    payload holding private key material never gets that far, encrypted or not.

    Raises:
        ApiError: 422 when a payload holds key material (named, never quoted).
    """
    for payload in payloads:
        kind = payload_key_material(payload)
        if kind is not None:
            raise ApiError(
                422,
                "private-key",
                f"a payload holds private key material ({kind}): refused, nothing is sent to "
                "Temporal with ucrenew's codec",
            )


async def _run(request: Request, action: str) -> Response:
    try:
        if request.headers.get("origin") is not None and "Access-Control-Allow-Origin" not in (
            _cors(request)
        ):
            raise ApiError(
                403,
                "origin-not-allowed",
                "this origin may not call the codec endpoint (UCRENEW_SERVICE_CODEC_CORS_ORIGINS)",
            )
        principal = _reader(request)
        namespace = request.headers.get("x-namespace")
        want = service_settings(request).ucrenew.namespace
        if namespace is not None and namespace != want:
            raise ApiError(
                403,
                "wrong-namespace",
                f"the codec endpoint serves namespace {want!r}, not {namespace!r}",
            )
        payloads = await _payloads(request)
        if action == "encode":
            _refuse_key_material(payloads)
        codec = _codec(request)
    except ApiError as err:
        return _error(request, err.status, err.code, err.message)
    if codec is None or not payloads:
        return _answer(request, payloads)
    if action == "encode":
        out = await codec.encode(payloads)
    else:
        out = []
        undecodable = 0
        for payload in payloads:
            # One payload under a retired key must not hide the others.
            try:
                out.extend(await codec.decode([payload]))
            except CodecKeyError:
                undecodable += 1
                out.append(payload)
        if undecodable:
            log.warning(
                "codec decode for %s: %d of %d payloads left encrypted (unknown key or corrupt)",
                principal.name,
                undecodable,
                len(payloads),
            )
    log.info(
        "codec %s by %s: %d payload(s), namespace %s",
        action,
        principal.name,
        len(payloads),
        namespace or want,
    )
    return _answer(request, out)


@router.post("/codec/decode", summary="Decode payloads for the Temporal UI (codec readers)")
async def decode(request: Request) -> Response:
    """Decrypt ``{"payloads": [...]}``: for members of a ``codec_readers`` group."""
    return await _run(request, "decode")


@router.post("/codec/encode", summary="Encode payloads for the Temporal UI (codec readers)")
async def encode(request: Request) -> Response:
    """Encrypt ``{"payloads": [...]}`` with the active key: for codec readers."""
    return await _run(request, "encode")


@router.options("/codec/decode", include_in_schema=False)
@router.options("/codec/encode", include_in_schema=False)
async def preflight(request: Request) -> Response:
    """The CORS preflight: allowed for the configured Temporal UI origins only."""
    cors = _cors(request)
    method = request.headers.get("access-control-request-method", "")
    if "Access-Control-Allow-Origin" not in cors or method.upper() != "POST":
        return Response(status_code=403, headers={"Vary": "Origin"})
    cors.update(
        {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        }
    )
    return Response(status_code=204, headers=cors)
