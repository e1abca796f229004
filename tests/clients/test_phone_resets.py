"""The phone-reset engine against the lab, without Temporal: resuming, read-back, throttling."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.clients.cucm.errors import CucmSoapFault
from activities.clients.cucm.phone_resets import ResetProgress, reset_phones
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint
from activities.cluster_models import PhoneResetResult
from lab.faults import Fault
from lab.server import Lab
from tests.lab.conftest import LabHandle, lab_spec
from tests.lab.test_axl_reset import all_registered, resets
from tests.lab.test_phones import timing


async def reset(
    lab: LabHandle, names: list[str], seen: list[ResetProgress] | None = None, **kw: object
) -> PhoneResetResult:
    """The engine on the lab's publisher; ``seen`` collects what it reports."""
    return await reset_phones(
        lab.endpoint("cucm-pub"),
        lab.app_user,
        names,
        progress=(seen if seen is not None else []).append,
        **kw,  # type: ignore[arg-type]
    )


async def registered(lab: Lab, count: int) -> tuple[list[str], int]:
    """Once every phone is registered: the first ``count`` names, and the journal's mark."""
    await all_registered(lab)
    return [p.name for p in lab.phones.phones[:count]], lab.journal.last_seq


def test_progress_from_a_longer_batch_is_clamped_to_this_one() -> None:
    state = ResetProgress(done=9, reset=9, ahead=[3, 12])
    assert state.clamped(5).model_dump() == ResetProgress(done=5, reset=9).model_dump()
    assert ResetProgress(done=1, ahead=[4, 2, 2, 1]).clamped(4).ahead == [2]
    assert state.done == 9 and state.ahead == [3, 12]  # the original is left as it was


async def test_reset_resumes_after_the_given_progress_without_resetting_a_phone_twice(
    lab: LabHandle,
) -> None:
    running = lab.lab
    names, mark = await registered(running, 7)
    # An earlier run answered the first three and the fifth (one of them unknown to AXL).
    earlier = ResetProgress(done=3, reset=3, not_found=["SEPGONE"], ahead=[4])
    seen: list[ResetProgress] = []
    result = await reset(lab, names, seen, concurrency=2, resume_from=earlier)
    assert sorted(resets(running, mark)) == sorted([names[3], names[5], names[6]])
    assert result == PhoneResetResult(requested=7, reset=6, not_found=["SEPGONE"])
    assert (seen[-1].done, seen[-1].ahead) == (7, [])
    assert earlier.done == 3  # the caller's copy is not changed under it


async def test_a_batch_resumed_from_its_last_report_resets_each_phone_once(
    lab: LabHandle,
) -> None:
    running = lab.lab
    names, mark = await registered(running, 5)
    seen: list[ResetProgress] = []

    def report(state: ResetProgress) -> None:
        seen.append(state)
        if state.done == 2 and not running.faults.active():
            # The third request fails: the batch ends after two resets.
            running.faults.add(Fault(kind="soap-fault", node="cucm-pub", target="axl", count=1))

    with pytest.raises(CucmSoapFault):
        await reset_phones(
            lab.endpoint("cucm-pub"), lab.app_user, names, concurrency=1, progress=report
        )
    assert resets(running, mark) == names[:2]
    result = await reset(lab, names, concurrency=1, resume_from=seen[-1])
    assert result == PhoneResetResult(requested=5, reset=5)
    assert sorted(resets(running, mark)) == sorted(names)


async def test_nothing_left_to_reset_sends_nothing() -> None:
    # Port 9 (discard) on loopback refuses: any request would fail the call.
    nowhere = NodeEndpoint(fqdn="cucm-pub.invalid", host="127.0.0.1", https_port=9)
    names = ["SEP000000000001", "SEP000000000002", "SEP000000000003"]
    done = ResetProgress(done=3, reset=2, not_found=[names[1]])
    result = await reset_phones(nowhere, BasicAuth("axl", "unused"), names, resume_from=done)
    assert result == PhoneResetResult(requested=3, reset=2, not_found=[names[1]])


@pytest.mark.parametrize("reboot", [2.0, 0.0], ids=["still-rebooting", "already-back"])
async def test_a_lost_reset_answer_is_read_back_not_sent_again(
    tmp_path: Path, reboot: float
) -> None:
    # The read-back finds the phone either still rebooting, or registered again since the
    # request (the answer came too late): both mean the reset arrived, so it is not resent.
    async with Lab(lab_spec(), tmp_path / "lab", timing(reset_duration=reboot)) as running:
        await all_registered(running)
        names = [p.name for p in running.phones.phones[:4]]
        running.faults.add(
            Fault(kind="response-lost", node="cucm-pub", target="device-reset", count=1)
        )
        mark = running.journal.last_seq
        result = await reset(LabHandle(running), names, concurrency=1)
        fired = [e for e in running.journal.entries("fault.fired") if e.seq > mark]
        assert [e.data["operation"] for e in fired] == ["device-reset"]
        assert result == PhoneResetResult(requested=4, reset=4, not_found=[])
        assert sorted(resets(running, mark)) == sorted(names)  # each exactly once


async def test_unknown_names_are_listed_in_request_order(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    real = running.phones.phones[2].name
    mark = running.journal.last_seq
    result = await reset(lab, ["SEP00000000000B", real, "SEP00000000000A"])
    assert result.requested == 3 and result.reset == 1
    assert result.not_found == ["SEP00000000000B", "SEP00000000000A"]
    assert resets(running, mark) == [real]


async def test_axl_throttling_is_waited_out(lab: LabHandle) -> None:
    running = lab.lab
    names, mark = await registered(running, 3)
    await running.add_fault(
        Fault(
            kind="http-error",
            node="cucm-pub",
            target="axl",
            count=2,
            params={"status": 503, "retry_after": 0},
        )
    )
    seen: list[ResetProgress] = []
    result = await reset(lab, names, seen, concurrency=1)
    assert result == PhoneResetResult(requested=3, reset=3)
    assert running.faults.active() == []  # both 503s were served
    assert sorted(resets(running, mark)) == sorted(names)
    assert sum("throttled" in s.note for s in seen) == 2
