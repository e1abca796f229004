"""The workers' workflow sandbox: each run executes its own workflow module again and no other
ucrenew module, and the determinism restrictions still hold.

The sandbox keeps a run's modules in the instance's importer; the SDK offers no public way to
list them, so these tests read ``importer.new_modules`` of the instance the runner creates
(with the SDK's own validation ``Info``, as ``prepare_workflow`` does).
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
import temporalio.converter
import temporalio.workflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client
from temporalio.worker import WorkflowRunner
from temporalio.worker._workflow_instance import WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import _runner

from workers.sandbox import passthrough_modules, workflow_modules
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows.renewal import CertRenewalWorkflow

OWN = ("workflows", "activities")


def _details(cls: type) -> WorkflowInstanceDetails:
    defn = temporalio.workflow._Definition.must_from_class(cls)
    return WorkflowInstanceDetails(
        payload_converter_factory=temporalio.converter.DataConverter.default._new_payload_converter,
        failure_converter_class=temporalio.converter.DataConverter.default.failure_converter_class,
        interceptor_classes=[],
        defn=defn,
        info=_runner._fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )


def _executed_per_run(runner: WorkflowRunner, cls: type) -> set[str]:
    """The ucrenew modules a new run of ``cls`` executes again instead of sharing."""
    instance: Any = runner.create_instance(_details(cls))
    modules = instance.importer.new_modules
    return {
        name
        for name, module in modules.items()
        if name.split(".")[0] in OWN and sys.modules.get(name) is not module
    }


@pytest.fixture
async def runner(dev_server_env: Client, task_queue: str, tmp_path: Any) -> Any:
    """The configuration of the worker ``ucrenew worker`` builds (never started)."""
    return build_worker(dev_server_env, UcrenewSettings(state_dir=tmp_path), task_queue).config()


async def test_a_run_executes_only_its_own_workflow_module_again(runner: Any) -> None:
    """A parked renewal used to carry its own copy of workflows.policies and
    workflows.search_attributes (``from workflows import policies`` inside the passed-through
    block escapes the sandbox's import hook), and a campaign one of workflows.campaigns: each
    run of every workflow the worker registers now executes only its own module (and the
    package's ``__init__``) again."""
    for cls in runner["workflows"]:
        own = {"workflows", cls.__module__}
        assert _executed_per_run(runner["workflow_runner"], cls) == own, cls.__name__


async def test_the_sandbox_still_restricts_the_workflow_module(runner: Any) -> None:
    """Determinism protection is kept: the workflow module itself is never passed through,
    and ``datetime`` is handed to a run as the sandbox's restricted proxy."""
    assert not set(workflow_modules()) & set(passthrough_modules())
    instance: Any = runner["workflow_runner"].create_instance(_details(CertRenewalWorkflow))
    modules = instance.importer.new_modules
    assert modules["workflows.renewal"] is not sys.modules["workflows.renewal"]
    assert modules["datetime"] is not sys.modules["datetime"]
    with instance.importer.applied(), pytest.raises(Exception, match=r"datetime\.date\.today"):
        instance.importer.restriction_context.is_runtime = True
        modules["datetime"].date.today()


async def test_runs_share_the_workflow_modules_compiled_code(runner: Any) -> None:
    """Each run executed ``workflows.renewal`` from a fresh unmarshalling of its bytecode
    (about 80 KiB per parked renewal): two runs now execute the same code objects, each into
    a module, class and functions of its own."""
    first: Any = runner["workflow_runner"].create_instance(_details(CertRenewalWorkflow))
    second: Any = runner["workflow_runner"].create_instance(_details(CertRenewalWorkflow))
    one = first.importer.new_modules["workflows.renewal"].CertRenewalWorkflow
    two = second.importer.new_modules["workflows.renewal"].CertRenewalWorkflow
    assert one is not two
    assert one._audit is not two._audit
    assert one._audit.__code__ is two._audit.__code__


async def test_the_worker_settings_size_the_cache_and_the_task_slots(
    dev_server_env: Client, task_queue: str, tmp_path: Any
) -> None:
    """The workflow cache, the workflow-task slots and pollers come from the settings
    (``UCRENEW_WORKFLOW_CACHE_SIZE``, ``…_TASK_SLOTS``, ``…_TASK_POLLERS``)."""
    settings = UcrenewSettings(
        state_dir=tmp_path, workflow_cache_size=1234, workflow_task_slots=7, workflow_task_pollers=3
    )
    config = build_worker(dev_server_env, settings, task_queue).config()
    assert config["max_cached_workflows"] == 1234
    assert config["max_concurrent_workflow_tasks"] == 7
    assert config["workflow_task_poller_behavior"].maximum == 3
    defaults = UcrenewSettings(state_dir=tmp_path)
    assert (defaults.workflow_cache_size, defaults.workflow_task_slots) == (1600, 20)
