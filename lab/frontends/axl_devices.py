"""AXL doDeviceReset of the twin's publisher: Cisco's "reset phones" step, on request.

``<deviceName>`` names the device (``uuid`` is refused: the lab has no device uuids);
``isHardReset`` (default true), ``isMGCP`` (default false) and ``deviceResetType`` (Reset or
Restart) are optional. A known phone is handed to :meth:`lab.phones.PhoneSystem.reset_devices`
and the reply is an empty ``return``; an unknown name is the AXL "Item not valid" fault.
"""

from __future__ import annotations

from lxml import etree

from lab import facts
from lab.frontends.axl_common import axl_fault, element
from lab.frontends.soapenv import SoapFault
from lab.phones import PhoneSystem

OPERATION = "doDeviceReset"
RESET_TYPES = ("Reset", "Restart")
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def _request_error(message: str) -> SoapFault:
    return axl_fault(OPERATION, facts.AXL_REQUEST_ERROR_CODE, message)


def _boolean(req: etree._Element, tag: str, default: bool) -> bool:
    text = req.findtext(tag)
    if text is None or not text.strip():
        return default
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _request_error(f"{tag} must be true or false, not {text.strip()!r}")


def do_device_reset(phones: PhoneSystem, ns: str, req: etree._Element) -> etree._Element:
    """Answer doDeviceReset: reset (or restart) one phone."""
    name = (req.findtext("deviceName") or "").strip()
    if not name:
        if req.find("uuid") is not None:
            raise _request_error("uuid is not supported by the lab")
        raise _request_error("deviceName is required")
    hard = _boolean(req, "isHardReset", True)
    mgcp = _boolean(req, "isMGCP", False)
    reset_type = (req.findtext("deviceResetType") or "").strip() or ("Reset" if hard else "Restart")
    if reset_type not in RESET_TYPES:
        raise _request_error(f"deviceResetType must be Reset or Restart, not {reset_type!r}")
    if (reset_type == "Restart" or not hard) and not facts.AXL_RESTART_IS_RESET:
        raise _request_error("Restart is not supported by the lab")
    key = name.upper() if facts.AXL_DEVICE_NAME_CASE_INSENSITIVE else name
    phone = None if mgcp else phones.by_name.get(key)
    if phone is None:
        raise axl_fault(
            OPERATION, facts.AXL_ITEM_NOT_FOUND_CODE, facts.AXL_DEVICE_NOT_FOUND_MESSAGE
        )
    if phone.node is None and not phone.resetting and not facts.AXL_RESET_UNREGISTERED_ACCEPTED:
        raise _request_error(f"Device {phone.name} is not registered")
    phones.reset_devices([phone.name], why="axl")
    resp = etree.Element(f"{{{ns}}}{OPERATION}Response", nsmap={"ns": ns})
    element(resp, "return", facts.AXL_DEVICE_RESET_RETURN)
    return resp
