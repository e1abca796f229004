"""Worker logging: JSON lines with the change's context, libraries held at WARNING."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import RestartRequest, RestartResult
from tests.workflows.stubs import FQDNS, StubCluster
from workers.logs import LIBRARY_LOGGERS, LogContextInterceptor, configure_logging
from workers.settings import UcrenewSettings
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.models import RenewalInput, SsoConfirmation
from workflows.renewal import CertRenewalWorkflow


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logging configured as the worker does with ``UCRENEW_LOG_FORMAT=json``, into a buffer;
    the previous configuration is restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = (*LIBRARY_LOGGERS, "temporalio.workflow", "temporalio.activity")
    levels = {n: logging.getLogger(n).level for n in names}
    flags = (workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message)
    buffer = io.StringIO()
    configure_logging("json", "INFO", "WARNING", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        workflow.logger.workflow_info_on_message = flags[0]
        activity.logger.activity_info_on_message = flags[1]


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_settings_choose_format_and_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCRENEW_LOG_FORMAT", "json")
    monkeypatch.setenv("UCRENEW_LIBRARY_LOG_LEVEL", "info")
    s = UcrenewSettings()
    assert (s.log_format, s.log_level, s.library_log_level) == ("json", "INFO", "INFO")
    monkeypatch.setenv("UCRENEW_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        UcrenewSettings()


def test_library_chatter_is_held_at_warning(captured: io.StringIO) -> None:
    logging.getLogger("asyncssh").info("Opening SSH connection to cucm-pub")
    logging.getLogger("httpx").info("HTTP Request: GET https://cucm-pub:8443/ 200 OK")
    logging.getLogger("asyncssh").warning("Connection lost")
    logging.getLogger("activities.clients.ca.local").info("local CA issued serial 1")
    got = [(line["logger"], line["message"]) for line in lines(captured)]
    assert got == [
        ("asyncssh", "Connection lost"),
        ("activities.clients.ca.local", "local CA issued serial 1"),
    ]


def test_text_format_appends_the_context() -> None:
    from workers.logs import ContextFilter, TextFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "phase %s", ("csr",), None)
    record.temporal_workflow = {"workflow_id": "CHG1"}
    record.ucrenew = {"cluster": "lab", "phase": "csr"}
    ContextFilter().filter(record)
    assert TextFormatter().format(record).endswith("phase csr [CHG1 cluster=lab phase=csr]")


async def test_every_renewal_line_carries_change_cluster_phase_and_node(
    time_skipping_env: WorkflowEnvironment, task_queue: str, captured: io.StringIO
) -> None:
    stub = StubCluster()
    stubs = {getattr(fn, "__name__", ""): fn for fn in stub.activities()}

    @activity.defn(name="restart_service")
    async def restart_service(req: RestartRequest) -> RestartResult:
        # What a client library does inside an activity: a plain logger, no Temporal extra.
        logging.getLogger("activities.clients.cucm.restarts").info("restarting %s", req.service)
        activity.logger.info("restart requested")
        result: RestartResult = await stubs["restart_service"](req)
        return result

    activities = [fn for name, fn in stubs.items() if name != "restart_service"]
    inp = RenewalInput(change_id=f"CHG-{uuid.uuid4().hex[:8]}", cluster="lab", requested_by="a")
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow],
        activities=[*activities, restart_service],
        interceptors=[LogContextInterceptor()],
    ):
        handle = await time_skipping_env.client.start_workflow(
            CertRenewalWorkflow.run, inp, id=inp.change_id, task_queue=task_queue
        )
        while (await handle.query(CertRenewalWorkflow.get_status)).awaiting != "sso-confirm":
            await time_skipping_env.sleep(0.05)
        stub.sso_enabled = True
        await handle.execute_update(
            CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="carol")
        )
        await handle.result()

    ours = [
        line
        for line in lines(captured)
        if line.get("change_id") == inp.change_id
        or line["logger"].startswith(("temporalio.workflow", "activities"))
    ]
    phases = [line["message"] for line in ours if line["message"].startswith("phase ")]
    assert phases[0] == "phase preflight" and phases[-1] == "phase done"
    assert ours and all(
        line["change_id"] == inp.change_id and line["cluster"] == "lab" and line["phase"]
        for line in ours
    )
    restarts = [line for line in ours if line.get("step") == "restart_service"]
    assert {line["logger"] for line in restarts} == {
        "activities.clients.cucm.restarts",
        "temporalio.activity",
    }
    assert {line["node"] for line in restarts} == set(FQDNS)
    assert {line["phase"] for line in restarts} == {"restarts"}
