"""Which per-cluster trust a worker uses: the trust files by default (the embedded stack, the
demo), Temporal's ``trust/<cluster>`` workflows with ``UCRENEW_STATELESS=true`` (issue 15:
"the per-cluster trust lives in Temporal state ... so any replica can continue any
renewal")."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.clients.trust_store import TrustStore
from workers.settings import UcrenewSettings
from workers.trust_temporal import TemporalTrust, TrustRefreshInterceptor
from workers.wiring import build_worker, cluster_trust, remove_temporary_files


def test_a_worker_keeps_the_trust_files_unless_stateless(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = UcrenewSettings(state_dir=tmp_path / "state")
    trust = cluster_trust(time_skipping_env.client, settings, "tq")
    assert isinstance(trust, TrustStore)
    assert trust.directory == settings.trust_path


def test_a_stateless_worker_keeps_the_trust_in_temporal_and_no_copy_after_exit(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = UcrenewSettings(state_dir=tmp_path / "state", stateless=True)
    trust = cluster_trust(time_skipping_env.client, settings, "tq")
    assert isinstance(trust, TemporalTrust)
    assert not trust.directory.is_relative_to(tmp_path / "state")
    assert [f.path for f in trust._copies.shared] == [
        str(tmp_path / "state" / "ca" / "local" / "root.pem")
    ]
    remove_temporary_files()
    assert not trust.directory.exists()


async def test_every_worker_runs_the_trust_workflow_and_a_stateless_one_refreshes_its_copy(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A mixed deployment still works: the workflow is registered on every worker."""
    client = time_skipping_env.client
    for stateless in (False, True):
        settings = UcrenewSettings(state_dir=tmp_path / str(stateless), stateless=stateless)
        worker = build_worker(client, settings, f"tq-{uuid.uuid4()}")
        config = worker.config()
        assert "ClusterTrustWorkflow" in [w.__name__ for w in config["workflows"]]
        refreshing = [i for i in config["interceptors"] if isinstance(i, TrustRefreshInterceptor)]
        assert len(refreshing) == int(stateless)
    remove_temporary_files()
