"""The chaos bench's logic (bench/bench_chaos.py, bench/renewal_harness.py): which renewal runs
where, when the worker is killed, what counts as an effect, and how a run is judged and
summed up. The bench itself runs real renewals and asserts nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bench.bench_chaos import (
    ChaosResult,
    KillRecord,
    KillTrigger,
    is_effect,
    kill_moments,
    operator_reason,
    parse_args,
    plan_renewals,
    summary,
)
from bench.renewal_harness import judge
from lab.journal import JournalEntry
from workflows.models import RenewalStatus, StepFailure


def entry(kind: str, node: str | None = "cucm-pub", /, seq: int = 1, **data: Any) -> JournalEntry:
    return JournalEntry(seq=seq, at=0.0, kind=kind, node=node, data=data)


def status(**fields: Any) -> RenewalStatus:
    base: dict[str, Any] = {
        "change_id": "CHAOS-000",
        "cluster": "chaos",
        "purposes": ["tomcat"],
        "ca": "local",
        "requested_by": "bench",
    }
    return RenewalStatus.model_validate({**base, **fields})


# -- where renewals run --------------------------------------------------------------------


def test_each_cluster_keeps_one_purpose_and_extra_renewals_wrap_around() -> None:
    plans = plan_renewals(5, 2, ["tomcat", "callmanager"])
    assert [(p.index, p.cluster, p.scenario) for p in plans] == [
        (0, 0, "tomcat"),
        (1, 1, "callmanager"),
        (2, 0, "tomcat"),
        (3, 1, "callmanager"),
        (4, 0, "tomcat"),
    ]


def test_more_purposes_than_clusters_still_gives_every_cluster_one() -> None:
    assert {p.scenario for p in plan_renewals(3, 1, ["callmanager", "tomcat"])} == {"callmanager"}


def test_nothing_to_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        plan_renewals(0, 2, ["tomcat"])


# -- when the worker dies ------------------------------------------------------------------


def test_kill_moments_repeat_with_their_seed_and_stay_in_the_window() -> None:
    first = kill_moments(7, 4, 60.0)
    assert first == kill_moments(7, 4, 60.0)
    assert first != kill_moments(8, 4, 60.0)
    assert first == sorted(first) and len(first) == 4
    assert all(2.0 <= m <= 60.0 for m in first)


def test_kill_moments_refuse_a_window_before_the_earliest_moment() -> None:
    with pytest.raises(ValueError, match="between"):
        kill_moments(1, 2, 1.0)


def test_a_kill_waits_for_its_moment_then_lands_on_the_next_effect() -> None:
    trigger = KillTrigger([10.0], grace=5.0, min_uptime=3.0)
    assert not trigger.should_kill(9.0, worker_up_since=0.0, effect=True)
    assert not trigger.should_kill(11.0, worker_up_since=0.0, effect=False)
    assert trigger.should_kill(11.5, worker_up_since=0.0, effect=True)
    # Consumed: no moment is left.
    assert not trigger.should_kill(30.0, worker_up_since=0.0, effect=True)


def test_a_kill_with_no_effect_fires_after_the_grace() -> None:
    trigger = KillTrigger([10.0], grace=5.0, min_uptime=3.0)
    assert not trigger.should_kill(14.9, worker_up_since=0.0, effect=False)
    assert trigger.should_kill(15.0, worker_up_since=0.0, effect=False)


def test_a_new_worker_is_left_to_start_before_the_next_kill() -> None:
    trigger = KillTrigger([10.0, 10.5], grace=5.0, min_uptime=3.0)
    assert trigger.should_kill(10.0, worker_up_since=0.0, effect=True)
    # No worker while it is being replaced, then a young one.
    assert not trigger.should_kill(10.6, worker_up_since=None, effect=True)
    assert not trigger.should_kill(12.0, worker_up_since=11.0, effect=True)
    # Its grace counts from when it may be killed, not from the (long past) moment.
    assert not trigger.should_kill(15.0, worker_up_since=11.0, effect=False)
    assert trigger.should_kill(14.0, worker_up_since=11.0, effect=True)


@pytest.mark.parametrize(
    ("journalled", "effect"),
    [
        (entry("csr.generated"), True),
        (entry("identity.uploaded", purpose="tomcat"), True),
        (entry("trust.uploaded", store="tomcat-trust"), True),
        (entry("ctl.updated"), True),
        (entry("sso.disabled", None, origin="cli"), True),
        (entry("sso.disabled", None, origin="bench operator"), False),
        (entry("service.control", service="Cisco Tomcat", action="restart"), True),
        (entry("service.state", service="Cisco Tomcat", status="Stopping"), True),
        (entry("service.state", service="Cisco Tomcat", status="Stopped"), False),
        (entry("phone.unregistered", reason="reset:axl", phones=["SEP1"]), True),
        (entry("phone.unregistered", reason="keepalive", phones=["SEP1"]), False),
        (entry("fault.fired", "cucm-pub", operation="csr"), False),
    ],
)
def test_what_a_kill_lands_on(journalled: JournalEntry, effect: bool) -> None:
    assert is_effect(journalled) is effect


# -- judging and summing up ----------------------------------------------------------------


def test_the_reason_names_the_question_and_each_step_failure() -> None:
    asked = status(
        phase="restarts",
        awaiting="operator",
        question="the restart of Cisco CallManager on sub2 failed",
        failures=[
            StepFailure(
                node="sub2", step="restart", service="Cisco CallManager", reason="AxisFault"
            )
        ],
    )
    assert operator_reason(asked) == (
        "restarts: the restart of Cisco CallManager on sub2 failed; "
        "restart Cisco CallManager on sub2: AxisFault"
    )
    assert operator_reason(status(phase="done", outstanding=["re-enable SSO"])) == (
        "done: outstanding: re-enable SSO"
    )


def test_judge_counts_a_duplicated_effect_and_an_unfinished_change() -> None:
    journal = [
        entry("identity.uploaded", seq=1, purpose="tomcat", fingerprint="ab" * 32),
        entry("identity.uploaded", seq=2, purpose="tomcat", fingerprint="ab" * 32),
    ]
    verdict = judge("still running after 900 s (phase restarts)", journal)
    assert not verdict.completed
    assert verdict.operator == "still running after 900 s (phase restarts)"
    assert verdict.duplicated == [f"identity certificate tomcat {'ab' * 8} uploaded 2 times"]
    finished = judge(status(phase="done"), [])
    assert finished.completed and not finished.operator and not finished.duplicated


def test_summary_totals_and_groups_the_reasons() -> None:
    results = [
        ChaosResult(0, "CHAOS-000", "chaos", "tomcat", completed=True, seconds=40.0),
        ChaosResult(1, "CHAOS-001", "chaos-002", "callmanager", operator="asked: X", seconds=9),
        ChaosResult(2, "CHAOS-002", "chaos-003", "tomcat", operator="asked: X", seconds=9),
        ChaosResult(
            3, "CHAOS-003", "chaos-004", "tomcat", completed=True, seconds=60.0, duplicated=["d"]
        ),
        ChaosResult(4, "-", "chaos-005", "tomcat", harness_error="OSError: address in use"),
    ]
    text = summary(
        results,
        [KillRecord(at=12.5, effect="csr.generated on cucm-pub")],
        unasked=1,
        faults=Counter({"soap-fault": 3, "http-error": 2}),
        wall=61.0,
    )
    assert (
        "renewals 5: completed 2, duplicated CUCM effects 1 (must be 0), false audit entries 0, "
        "needed an operator 2, not run (harness) 1"
    ) in text
    assert "completed renewal p50 50.0 s, max 60.0 s" in text
    assert "worker SIGKILLs 1 (at 12.5 s on csr.generated on cucm-pub)" in text
    assert "worker exits not caused by the bench 1" in text
    assert "faults fired: http-error 2, soap-fault 3" in text
    assert "  2 x asked: X" in text
    assert "CHAOS-003 (chaos-004): DUPLICATED: d" in text


# -- options -------------------------------------------------------------------------------


def test_options_default_to_a_renewal_per_cluster_and_a_purpose_mix() -> None:
    args = parse_args(["--renewals", "6", "--purposes", "Tomcat, callmanager"])
    assert args.clusters == 6 and args.purposes == ["tomcat", "callmanager"]
    assert args.faults == ["http-error", "soap-fault", "latency", "response-lost"]
    assert parse_args(["--faults", "none"]).faults == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--purposes", "tomcat,xmpp"], "unknown xmpp"),
        (["--faults", "unreachable-flap"], "unknown fault kind unreachable-flap"),
        (["--clusters", "0"], "--clusters must be between"),
        (["--fault-rate", "1.5"], "--fault-rate must be between 0 and 1"),
        (["--kill-window", "1"], "--kill-window must be at least"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
