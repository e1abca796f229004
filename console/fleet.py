"""``ucrenew fleet``: every cluster's certificates by purpose, days to expiry and drift."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from workflows.fleet_models import AutoRenewOutcome, FleetPurpose, FleetView

__all__ = ["fleet_table", "renewals_table"]

_STATUS_STYLE = {
    "started": "green",
    "would-start": "yellow",
    "failed": "red",
    "unknown": "red",
    "running": "cyan",
    "already-started": "cyan",
}


def _days(p: FleetPurpose, warning_days: int) -> Text:
    if p.days_to_expiry is None:
        return Text("?", style="dim")
    style = "red" if p.days_to_expiry < 0 else "yellow" if p.days_to_expiry < warning_days else ""
    return Text(str(p.days_to_expiry), style=style)


def _subject(p: FleetPurpose) -> str:
    certs = [c for n in p.nodes if (c := n.served or n.installed) is not None]
    if not certs:
        return ""
    first = certs[0]
    distinct = len({c.fingerprint for c in certs})
    cn = first.subject_cn or first.subject
    more = f" (+{distinct - 1} other)" if distinct > 1 else ""
    return f"{cn}{more}"


def fleet_table(view: FleetView) -> RenderableType:
    """One row per cluster and purpose: nodes, subject, issuer, expiry, days left, drift; a
    failed cluster is one row with its error."""
    table = Table(
        title=f"fleet as of the scan of {view.scanned_at:%Y-%m-%d %H:%M} UTC "
        f"(expiring within {view.warning_days} days is drift)",
    )
    for column in ("cluster", "purpose", "nodes", "subject", "issuer", "not after"):
        table.add_column(column, overflow="fold")
    table.add_column("days", justify="right")
    table.add_column("drift", overflow="fold")
    for c in view.clusters:
        if c.status == "failed":
            table.add_row(c.cluster, Text("failed", style="red"), "", "", "", "", "", c.error or "")
            continue
        for p in c.purposes:
            cert = next((x for n in p.nodes if (x := n.served or n.installed) is not None), None)
            drift = "; ".join(d.message for d in p.drift)
            table.add_row(
                c.cluster,
                p.purpose,
                str(len(p.nodes)),
                _subject(p),
                cert.issuer if cert else "",
                f"{p.not_after:%Y-%m-%d}" if p.not_after else "",
                _days(p, view.warning_days),
                Text(drift, style="yellow") if drift else Text("none", style="green"),
            )
    parts: list[RenderableType] = []
    if view.notice:
        parts.append(Text(view.notice, style="yellow"))
    if view.clusters:
        parts.append(table)
    renewals = renewals_table(view)
    if renewals is not None:
        parts.append(renewals)
    return Group(*parts)


def _when(o: AutoRenewOutcome) -> str:
    if o.started_at is not None:
        return f"{o.started_at:%Y-%m-%d %H:%M}"
    return f"+{o.start_after_seconds // 60} min" if o.start_after_seconds else ""


def renewals_table(view: FleetView) -> Table | None:
    """What the scan started, or would start, per cluster with ``change_policy.auto_renew``
    on (and why not); None when no cluster has it on."""
    rows = [
        (c.cluster, c.auto_renew)
        for c in view.clusters
        if c.auto_renew is not None and c.auto_renew.status != "off"
    ]
    if not rows:
        return None
    table = Table(title="renewals the scan starts (change_policy.auto_renew)")
    for column in ("cluster", "status", "change", "purposes", "when", "why"):
        table.add_column(column, overflow="fold")
    for cluster, o in rows:
        why = "; ".join([o.detail, *o.reasons]) if o.reasons else o.detail
        table.add_row(
            cluster,
            Text(o.status, style=_STATUS_STYLE.get(o.status, "")),
            o.change_id or "",
            ", ".join(o.purposes),
            _when(o),
            why,
        )
    return table
