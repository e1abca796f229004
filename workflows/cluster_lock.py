"""One change per cluster: a lock keyed on the cluster's identity, acquired atomically.

**Identity.** A cluster is known by what it reports about itself, not by its inventory name:
its CUCM publisher's processnode row in AXL listProcessNode, name and pkid
(:class:`~activities.cluster_models.ClusterIdentity`, read by discovery). Two inventory
entries that reach the same cluster (a second name, other addresses) read the same identity,
so they share one lock. Why both: no source says the pkid is unique per installation
(``activities/clients/cucm/inferred.py``), and server names repeat across customers; a
cluster reports both the same way whichever entry reaches it.

**Atomicity.** The lock is a :class:`ClusterLockWorkflow` whose workflow id is derived from
the identity (:func:`lock_id`), started by the renewal as a child. Temporal runs at most one
execution per workflow id, and a child start against a running id fails
(``WorkflowAlreadyStartedError``): of twenty renewals that start it in the same second,
exactly one holds it, with no check-then-act window. The child's parent close policy is
TERMINATE, so the lock dies with its holder however it ends (completed, failed, cancelled,
terminated, timed out); the holder also ends it itself (the ``release_cluster_lock`` activity
terminates it: no worker has to run the lock for that) as soon as it stops touching the
cluster, so a change started the moment the holder closed finds it free. Its cancellation
type is ABANDON: cancelling the holder never cancels the lock before the holder has finished
its compensation.

**When.** After discovery (read-only: it is what tells the identity) and before the first
write; a refused change stops as ``ClusterBusy``, having written nothing, with the holder
named, so ``ucrenew start`` may run it again under the same change id
(``console/attempts.py``), and campaigns and the fleet scan count it as busy, not as a
failure. Changes started before patch ``cluster-lock`` take no lock (they replay as they ran).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, Field

    from activities.cluster_models import (
        ClusterIdentity,
        ClusterSnapshot,
        LockHolder,
        LockHolderRequest,
        LockReleaseRequest,
    )
    from activities.registry import RegistryActivities
    from workflows import policies
    from workflows.models import Problem
    from workflows.steps import RenewalStopped, run_activity

__all__ = [
    "BUSY",
    "LOCK_PREFIX",
    "PATCH",
    "ClusterLock",
    "ClusterLockInput",
    "ClusterLockWorkflow",
    "busy_message",
    "identity_problem",
    "lock_id",
]

#: The patch behind which a renewal takes the lock.
PATCH = "cluster-lock"
#: The error type of a renewal refused because another change holds its cluster.
BUSY = "ClusterBusy"
#: Every lock's workflow id starts with it.
LOCK_PREFIX = "cluster-lock"


def lock_id(identity: ClusterIdentity) -> str:
    """The lock's workflow id for a cluster identity: equal for every inventory entry of one
    cluster (server names compare case-insensitively, as CUCM's do)."""
    name = identity.publisher.strip().lower()
    pkid = identity.publisher_uuid.strip().strip("{}").lower()
    return f"{LOCK_PREFIX}/{name}/{pkid}" if pkid else f"{LOCK_PREFIX}/{name}"


def busy_message(change_id: str, cluster: str, publisher: str, holder: LockHolder) -> str:
    """What a refused change tells its operator: who holds the cluster and what to do."""
    if not holder.change_id:
        return (
            f"cluster {cluster} (publisher {publisher}) was held by another change that has "
            f"just ended; nothing was changed on the cluster: start {change_id} again"
        )
    named = (
        f"cluster {holder.cluster}"
        if holder.cluster and holder.cluster != cluster
        else "this cluster"
    )
    phase = f", phase {holder.phase}" if holder.phase else ""
    return (
        f"change {holder.change_id} is running on {named} (publisher {publisher}{phase}): "
        f"ucrenew runs one change per cluster; nothing was changed on {cluster}. Start "
        f"{change_id} again once {holder.change_id} has ended (`ucrenew watch "
        f"{holder.change_id}`)"
    )


def identity_problem(cluster: str, snapshot: ClusterSnapshot) -> Problem:
    """The blocking problem of a cluster whose identity discovery could not read."""
    why = snapshot.axl_error or "AXL listProcessNode names no CUCM publisher"
    return Problem(
        code="cluster-identity-unknown",
        message=(
            f"cluster {cluster}: its identity (the CUCM publisher's processnode, AXL "
            f"listProcessNode) could not be read ({why}), so ucrenew cannot make sure that no "
            "other change runs on it"
        ),
    )


class ClusterLockInput(BaseModel):
    """Who holds a cluster's lock.

    Attributes:
        holder: the change id (the parent renewal's workflow id).
        cluster: the holder's inventory name of the cluster.
        publisher: the publisher's processnode name, as the cluster reports it.
    """

    holder: str
    cluster: str
    publisher: str = Field(default="")


@workflow.defn
class ClusterLockWorkflow:
    """Held while it runs: started by the renewal that holds its cluster, ended by that
    renewal (``release_cluster_lock`` terminates it) or, whatever happens, by the renewal's
    close (TERMINATE). It runs no code of its own beyond waiting."""

    @workflow.init
    def __init__(self, inp: ClusterLockInput) -> None:
        self._input = inp

    @workflow.run
    async def run(self, inp: ClusterLockInput) -> None:
        """Hold the lock until its holder ends it (terminates it, or closes)."""
        workflow.set_current_details(f"**Held by** {inp.holder} ({inp.cluster})")
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def holder(self) -> ClusterLockInput:
        """The change that holds the lock."""
        return self._input


class ClusterLock:
    """A renewal's side of the lock (workflow code only).

    Args:
        change_id: the renewal's change id.
        cluster: its inventory cluster name.
    """

    def __init__(self, change_id: str, cluster: str) -> None:
        self._change_id = change_id
        self._cluster = cluster
        #: The lock's workflow id once held.
        self.held: str | None = None
        self._released = False

    async def acquire(self, snapshot: ClusterSnapshot) -> list[Problem]:
        """Take the cluster's lock; a blocking problem when the cluster's identity is unknown
        (nothing may be written then).

        Raises:
            RenewalStopped: ``ClusterBusy``, another change holds the cluster.
        """
        identity = snapshot.identity
        if identity is None:
            return [identity_problem(self._cluster, snapshot)]
        wanted = lock_id(identity)
        try:
            await workflow.start_child_workflow(
                ClusterLockWorkflow.run,
                ClusterLockInput(
                    holder=self._change_id, cluster=self._cluster, publisher=identity.publisher
                ),
                id=wanted,
                parent_close_policy=ParentClosePolicy.TERMINATE,
                cancellation_type=ChildWorkflowCancellationType.ABANDON,
                static_summary=f"one change per cluster: {identity.publisher} held by "
                f"{self._change_id}",
            )
        except WorkflowAlreadyStartedError:
            try:
                holder = await run_activity(
                    RegistryActivities.cluster_lock_holder,
                    LockHolderRequest(lock_id=wanted),
                    policies.REGISTRY,
                    summary=f"who holds {wanted}",
                )
            except RenewalStopped as unread:
                # Busy all the same: the lock is what decides, not who could be named.
                holder = LockHolder(change_id=f"(unknown: {unread.message})")
            raise RenewalStopped(
                BUSY, busy_message(self._change_id, self._cluster, identity.publisher, holder)
            ) from None
        self.held = wanted
        return []

    async def release(self) -> None:
        """Let the next change of the cluster run: end the lock now (an activity terminates
        it, so no worker has to run the lock for it to end), before this change closes; its
        close would end it anyway (TERMINATE)."""
        if self.held is None or self._released:
            return
        self._released = True
        try:
            await run_activity(
                RegistryActivities.release_cluster_lock,
                LockReleaseRequest(lock_id=self.held, holder=self._change_id),
                policies.REGISTRY,
                summary=f"release {self.held}",
            )
        except RenewalStopped as unreleased:
            workflow.logger.warning(
                "cluster lock %s is left to this change's close: %s", self.held, unreleased.message
            )
