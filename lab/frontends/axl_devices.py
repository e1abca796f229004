"""AXL doDeviceReset of the twin's CUCM: Cisco's "reset phones" step, on request.

The request is ``DoDeviceResetReq`` of AXLSoap.xsd (checked by :mod:`lab.frontends.axl_schema`):
``deviceName`` (an ``XFkType``: the name, or a ``uuid`` attribute), then *either*
``isHardReset`` *or* ``deviceResetType`` (Reset, Restart or Apply Configuration), and the
``isMGCP`` attribute (default false). A known phone is handed to
:meth:`lab.phones.PhoneSystem.reset_devices`; the reply's ``return`` is ``true``
(``DoDeviceResetRes``: 'Returns "true" if the reset was performed successfully'). An unknown
name is the AXL "Item not valid" fault.
"""

from __future__ import annotations

from lxml import etree

from lab import facts
from lab.frontends.axl_common import axl_fault, element
from lab.frontends.soapenv import SoapFault
from lab.phones import PhoneSystem

OPERATION = "doDeviceReset"
#: ``return`` of a reset that was performed (DoDeviceResetRes documentation in AXLSoap.xsd).
RESET_DONE = "true"
APPLY_CONFIGURATION = "Apply Configuration"
#: The values XReset names.
RESET_TYPES = ("Reset", "Restart", APPLY_CONFIGURATION)
#: The values of the schema's ``boolean`` type that mean true.
_TRUE = ("t", "true", "1")


def _request_error(message: str) -> SoapFault:
    return axl_fault(OPERATION, facts.AXL_REQUEST_ERROR_CODE, message)


def _not_found() -> SoapFault:
    return axl_fault(OPERATION, facts.AXL_ITEM_NOT_FOUND_CODE, facts.AXL_DEVICE_NOT_FOUND_MESSAGE)


def do_device_reset(phones: PhoneSystem, ns: str, req: etree._Element) -> etree._Element:
    """Answer a schema-valid doDeviceReset: reset (or restart) one phone."""
    # deviceName may be empty with a uuid attribute instead; the lab's phones have no pkid,
    # so such a uuid names no device it knows.
    name = (req.findtext("deviceName") or "").strip()
    if not name:
        raise _not_found()
    hard_text = req.findtext("isHardReset")
    if hard_text is not None:
        reset_type = "Reset" if hard_text in _TRUE else "Restart"
    else:
        reset_type = req.findtext("deviceResetType") or ""
        if reset_type not in RESET_TYPES:
            raise _request_error(facts.AXL_RESET_TYPE_ERROR.format(value=reset_type))
    mgcp = req.get("isMGCP", "false") in _TRUE
    key = name.upper() if facts.AXL_DEVICE_NAME_CASE_INSENSITIVE else name
    phone = None if mgcp else phones.by_name.get(key)
    if phone is None:
        raise _not_found()
    if reset_type == "Restart" and not facts.AXL_RESTART_IS_RESET:
        raise _request_error("Restart is not supported by the lab")
    if phone.node is None and not phone.resetting and not facts.AXL_RESET_UNREGISTERED_ACCEPTED:
        raise _request_error(f"Device {phone.name} is not registered")
    if reset_type != APPLY_CONFIGURATION or facts.AXL_APPLY_CONFIG_TOUCHES_PHONE:
        phones.reset_devices([phone.name], why="axl")
    resp = etree.Element(f"{{{ns}}}{OPERATION}Response", nsmap={"ns": ns})
    element(resp, "return", RESET_DONE)
    return resp
