"""The cleanup phase's removal of CSCur97909 leftovers, approved by the operator.

``find_leftover_certificates`` lists the nodes' former self-signed certificates still in the
trust stores after a multi-server upload; :class:`LeftoverActivities` removes those the
operator approved, after listing them again, with ``set cert delete`` on the admin CLI.
"""

from __future__ import annotations

from temporalio import activity

from activities import catalog
from activities.cleanup_models import LeftoverRemovalRequest, LeftoverRemovalResult
from activities.clients.cucm import purpose_certs
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.errors import CucmError
from activities.clients.cucm.transport import credentials
from activities.cluster_models import LeftoverCertificate
from activities.cucm import CucmActivities
from activities.errors import translated


def _key(left: LeftoverCertificate) -> tuple[str, str, str]:
    return left.store, left.file_name, left.fingerprint.lower()


class LeftoverActivities(CucmActivities):
    """Activities that change trust stores after the change (the cleanup phase)."""

    @activity.defn(name="remove_leftover_certificates")
    @translated
    async def remove_leftover_certificates(
        self, req: LeftoverRemovalRequest
    ) -> LeftoverRemovalResult:
        """Delete the approved leftovers that are still listed (idempotent).

        The trust stores are listed again first, and a certificate is deleted only when the
        listing still reports it with the approved store, file and fingerprint: one deleted
        meanwhile, or now in use, is reported ``already_gone`` and left alone. In the stores
        of :data:`activities.catalog.CLUSTER_WIDE_TRUST_DELETE` one deletion reaches every
        node; in the others it is run on each node that holds the certificate. The stores are
        listed once more at the end: what is still there is reported ``still_present``.
        Failures are reported per node, never raised, so the change is not failed by them.
        """
        inventory, cluster = await self._cluster(req)
        roots, files = self._roots(req), self._files(cluster.name)
        before = await purpose_certs.leftover_self_signed(
            inventory, cluster, req.purposes, roots, files, interface=req.readback
        )
        listed = {_key(left): left for left in before.leftovers}
        result = LeftoverRemovalResult(errors=dict(before.errors))
        todo: list[LeftoverCertificate] = []
        for approved in req.approved:
            current = listed.get(_key(approved))
            if current is None:
                result.already_gone.append(approved)
            else:
                todo.append(current)
        auth = credentials(inventory, cluster, "os_admin")
        attempted: list[LeftoverCertificate] = []
        for left in todo:
            nodes = left.nodes or [left.owner]
            if left.store in catalog.CLUSTER_WIDE_TRUST_DELETE:
                nodes = nodes[:1]
            for fqdn in nodes:
                try:
                    async with CucmCli(self._endpoint(req, cluster, fqdn), auth) as shell:
                        await shell.delete_trust_certificate(left.store, left.file_name)
                except CucmError as exc:
                    result.errors[fqdn] = f"{left.store}/{left.file_name}: {exc}"
            attempted.append(left)
            activity.logger.info("set cert delete %s/%s on %s", left.store, left.file_name, nodes)
        if attempted:
            after = await purpose_certs.leftover_self_signed(
                inventory, cluster, req.purposes, roots, files, interface=req.readback
            )
            remaining = {_key(left) for left in after.leftovers}
            for fqdn, why in after.errors.items():
                result.errors.setdefault(fqdn, why)
            for left in attempted:
                kept = _key(left) in remaining
                (result.still_present if kept else result.removed).append(left)
        result.attempt = activity.info().attempt
        return result
