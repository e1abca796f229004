"""Every CUCM client reads Retry-After, in both of its forms, and a throttle backs off.

RFC 9110 §10.2.3: ``Retry-After = HTTP-date / delay-seconds``, sent with 503 (and 429, RFC
6585 §4) to say how long the client ought to wait. cucm-interfaces.md §4.4: the realtime
throttle of Control Center and RisPort is a SOAP fault ("AxisFault: Exceeded allowed rate for
Reatime information") with no delay, for which clients back off; §6.3: AXL answers 503 on
throttling. The lab serves the faults; the waits are read from a recording sleep.
"""

from __future__ import annotations

import pytest

from activities.clients.cucm.axl import AxlClient
from activities.clients.cucm.certmgr import CertMgrClient
from activities.clients.cucm.controlcenter import ControlCenterClient
from activities.clients.cucm.errors import CucmHttpError, CucmThrottled
from activities.clients.cucm.risport import RisPortClient
from lab.faults import Fault
from tests.lab.conftest import LabHandle


def http_error(target: str, status: int, seconds: int, form: str | None = None) -> Fault:
    params: dict[str, object] = {"status": status, "retry_after": seconds}
    if form:
        params["retry_after_form"] = form
    return Fault(kind="http-error", node="cucm-pub", target=target, count=1, params=params)


async def test_rest_reads_retry_after_in_seconds_and_as_a_date(lab: LabHandle) -> None:
    lab.lab.faults.add(http_error("rest", 503, 7))
    async with CertMgrClient(lab.endpoint("cucm-pub"), lab.os_admin) as rest:
        with pytest.raises(CucmHttpError) as seconds:
            await rest.generate_csr("tomcat", multi_server=True)
        lab.lab.faults.add(http_error("rest", 503, 60, "http-date"))
        with pytest.raises(CucmHttpError) as date:
            await rest.generate_csr("tomcat", multi_server=True)
    assert seconds.value.asked_wait == 7.0 and seconds.value.retryable
    # A date has a resolution of a second, and some passed between the lab and the client.
    assert date.value.asked_wait is not None and 50.0 < date.value.asked_wait <= 60.0
    assert lab.lab.journal.entries("csr.generated") == []


async def test_rest_429_is_a_throttle(lab: LabHandle) -> None:
    lab.lab.faults.add(http_error("rest", 429, 11))
    async with CertMgrClient(lab.endpoint("cucm-pub"), lab.os_admin) as rest:
        with pytest.raises(CucmThrottled) as throttled:
            await rest.generate_csr("tomcat", multi_server=True)
    assert throttled.value.asked_wait == 11.0 and throttled.value.retry_after == 11.0


async def test_control_center_reads_retry_after(lab: LabHandle) -> None:
    lab.lab.faults.add(http_error("soap", 503, 5))
    lab.lab.faults.add(http_error("soap", 429, 60, "http-date"))
    # reads=None: the answer itself is under test, not the client's repeat of it.
    async with ControlCenterClient(lab.endpoint("cucm-pub"), lab.app_user, reads=None) as cc:
        with pytest.raises(CucmHttpError) as unavailable:
            await cc.get_service_status(["Cisco Tomcat"])
        with pytest.raises(CucmThrottled) as throttled:
            await cc.get_service_status(["Cisco Tomcat"])
        assert await cc.get_service_status(["Cisco Tomcat"])
    assert unavailable.value.asked_wait == 5.0
    assert throttled.value.asked_wait is not None and 50.0 < throttled.value.asked_wait <= 60.0


async def test_axl_reads_a_retry_after_date(lab: LabHandle) -> None:
    lab.lab.faults.add(http_error("axl", 503, 30, "http-date"))
    # reads=None: the answer itself is under test, not the client's repeat of it.
    async with AxlClient(lab.endpoint("cucm-pub"), lab.app_user, reads=None) as axl:
        with pytest.raises(CucmThrottled) as throttled:
            await axl.get_ccm_version()
        assert await axl.get_ccm_version()
    assert throttled.value.asked_wait is not None and 20.0 < throttled.value.asked_wait <= 30.0
    assert throttled.value.retry_after == throttled.value.asked_wait


async def test_risport_waits_what_the_node_asked_and_backs_off_without(lab: LabHandle) -> None:
    lab.lab.faults.add(http_error("soap", 429, 4))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with RisPortClient(
        lab.endpoint("cucm-pub"), lab.app_user, throttle_retries=3, retry_after=1.5, sleep=sleep
    ) as ris:
        first = await ris.registration_summary()
        # Now two realtime throttle faults, which say nothing about when to come back.
        lab.lab.faults.add(Fault(kind="throttle", node="cucm-pub", count=2))
        second = await ris.registration_summary()
    assert first.total == second.total > 0
    # 429 with Retry-After: 4 s; then the throttle faults of the next call: 1.5 s doubling.
    assert waits == [4.0, 1.5, 3.0]


async def test_risport_gives_up_after_its_retries(lab: LabHandle) -> None:
    lab.lab.faults.add(Fault(kind="throttle", node="cucm-pub"))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with RisPortClient(
        lab.endpoint("cucm-pub"), lab.app_user, throttle_retries=2, retry_after=2.0, sleep=sleep
    ) as ris:
        with pytest.raises(CucmThrottled):
            await ris.registration_summary()
    assert waits == [2.0, 4.0]
