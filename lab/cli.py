"""``python -m lab`` / ``ucrenew lab``: start, stop and inspect the twin cluster."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import ssl
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from cryptography import x509
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from lab import runner
from lab import topology as lab_topology
from lab.control import LabControl
from lab.errors import LabError
from lab.faults import Fault
from lab.fleet import fleet_specs

app = typer.Typer(help="The lab: a digital twin of a CUCM/IM&P cluster.", no_args_is_help=True)
console = Console()

StateDir = Annotated[
    Path,
    typer.Option("--state-dir", envvar="UCRENEW_STATE_DIR", help="where the lab keeps its state"),
]
JsonOut = Annotated[bool, typer.Option("--json", help="print JSON")]
Release = Annotated[
    list[str] | None,
    typer.Option(
        "--release",
        help="run the cluster on this CUCM version (10.5 through 15, e.g. 12.5.1.16900-48) "
        "instead of the topology's; with --clusters, several (repeated or comma-separated) "
        "are given to the clusters in turn",
    ),
]
Clusters = Annotated[
    int,
    typer.Option(
        "--clusters",
        min=1,
        help="run this many clusters in one process, each on its own loopback /24, behind "
        "one control API and one inventory",
    ),
]
Prefix = Annotated[
    str | None,
    typer.Option(
        "--prefix",
        help="the first cluster's name and the others' prefix (default: the topology's "
        "cluster name): lab, lab-002, lab-003…",
    ),
]
ClusterName = Annotated[
    str | None,
    typer.Option("--cluster", help="the cluster of a multi-cluster lab (default: the first)"),
]


def _releases(given: list[str] | None) -> list[str]:
    """The releases of ``--release``, repeated or comma-separated."""
    return [r.strip() for item in given or [] for r in item.split(",") if r.strip()]


def _check_fleet(path: str | None, clusters: int, prefix: str | None, releases: list[str]) -> None:
    """Exit with the reason when the clusters cannot be made from the topology."""
    checked: list[str | None] = [*releases] or [None]
    for release in checked:
        _check_topology(path, release)
    if clusters == 1 and prefix is None and len(releases) <= 1:
        return
    try:
        fleet_specs(lab_topology.load(path), clusters, prefix, releases)
    except LabError as exc:
        console.print(f"[red]cannot run {clusters} clusters: {exc.message}[/]")
        raise typer.Exit(2) from None
    except ValidationError as exc:
        reasons = "; ".join(e["msg"] for e in exc.errors())
        console.print(f"[red]cannot run {clusters} clusters: {reasons}[/]")
        raise typer.Exit(2) from None


def _control_url(desc: dict[str, Any], cluster: str | None) -> str:
    """The control API of ``cluster`` in the running lab (the first cluster's by default)."""
    if cluster is None:
        return str(desc["control_url"])
    entries = desc.get("clusters") or [desc]
    for entry in entries:
        if entry["cluster"] == cluster:
            return str(entry["control_url"])
    known = ", ".join(e["cluster"] for e in entries)
    console.print(f"[red]no cluster {cluster!r} in the running lab (known: {known})[/]")
    raise typer.Exit(2)


def _check_topology(path: str | None, release: str | None = None) -> None:
    """Exit with the reasons when the topology file cannot be read or is not valid."""
    try:
        lab_topology.load(path, release)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'topology'}: {e['msg']}" for e in exc.errors()
        )
        console.print(f"[red]invalid topology {path or '(built-in)'}: {reasons}[/]")
        raise typer.Exit(2) from None
    except (OSError, yaml.YAMLError) as exc:
        console.print(f"[red]cannot read topology {path}: {exc}[/]")
        raise typer.Exit(2) from None


def _probe(address: str, port: int, server_name: str) -> str:
    """Fingerprint prefix and subject of the certificate a node serves, or why not."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((address, port), timeout=2) as sock,
            ctx.wrap_socket(sock, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError as exc:
        return f"[red]{exc.__class__.__name__}[/]"
    cert = x509.load_der_x509_certificate(der or b"")
    return f"serial {cert.serial_number:x}"[:20] + "…"


def _print_desc(desc: dict[str, Any], probe: bool = True) -> None:
    if len(desc.get("clusters") or []) > 1:
        _print_fleet(desc, probe)
        return
    table = Table(
        title=f"lab cluster {desc['cluster']} (CUCM {desc['version']}, {desc['timing']} timing)"
    )
    table.add_column("node", no_wrap=True)
    table.add_column("role")
    table.add_column("address", no_wrap=True)
    table.add_column("ports (https / ssh / sip, xmpp)")
    table.add_column("serving (TLS probe)")
    for n in desc["nodes"]:
        served = _probe(n["address"], n["https_ports"][0], n["fqdn"]) if probe else ""
        table.add_row(
            n["fqdn"],
            f"{n['product']} {'pub' if n['role'] == 'Publisher' else 'sub'}",
            n["address"],
            " / ".join(
                [
                    ",".join(str(p) for p in n["https_ports"]),
                    str(n["ssh_port"]),
                    ",".join(str(p) for p in n.get("signalling_ports", [])),
                ]
            ),
            served,
        )
    console.print(table)
    console.print(f"control API  {desc['control_url']}")
    console.print(f"inventory    {desc['inventory']}")


def _print_fleet(desc: dict[str, Any], probe: bool) -> None:
    clusters = desc["clusters"]
    table = Table(title=f"lab of {len(clusters)} clusters ({desc['timing']} timing)")
    table.add_column("cluster", no_wrap=True)
    table.add_column("CUCM")
    table.add_column("network", no_wrap=True)
    table.add_column("nodes")
    table.add_column("publisher (TLS probe)")
    for c in clusters:
        pub = c["nodes"][0]
        served = _probe(pub["address"], pub["https_ports"][0], pub["fqdn"]) if probe else ""
        table.add_row(c["cluster"], c["version"], c["network"], str(len(c["nodes"])), served)
    console.print(table)
    console.print(f"control API  {desc['control_url']} (a cluster's: /clusters/<name>)")
    console.print(f"inventory    {desc['inventory']}")


@app.command()
def up(
    state_dir: StateDir = Path(".state"),
    topology: Annotated[str | None, typer.Option(help="topology YAML (default: built-in)")] = None,
    timing: Annotated[str | None, typer.Option(help="fast | realistic")] = None,
    release: Release = None,
    clusters: Clusters = 1,
    prefix: Prefix = None,
    json_out: JsonOut = False,
) -> None:
    """Start the lab in the background and show each node serving TLS."""
    releases = _releases(release)
    _check_fleet(topology, clusters, prefix, releases)
    try:
        desc = runner.up(
            state_dir, topology, timing, clusters=clusters, prefix=prefix, releases=releases
        )
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    running = len(desc.get("clusters") or [desc])
    if running != clusters:
        # runner.up returns the lab already running for this state dir, as it is.
        typer.echo(
            f"note: a lab of {running} cluster(s) was already running for {state_dir}: "
            f"`ucrenew lab down` first to start {clusters}",
            err=True,
        )
    if json_out:
        typer.echo(json.dumps(desc, indent=2))
    else:
        _print_desc(desc)


@app.command()
def down(state_dir: StateDir = Path(".state")) -> None:
    """Stop the lab."""
    if runner.down(state_dir):
        console.print("lab stopped")
    else:
        console.print("no lab was running")


@app.command()
def status(state_dir: StateDir = Path(".state"), json_out: JsonOut = False) -> None:
    """Show the running lab."""
    try:
        desc = runner.read_descriptor(state_dir)
    except runner.LabNotRunning as exc:
        console.print(str(exc))
        raise typer.Exit(1) from None
    if json_out:
        typer.echo(json.dumps(desc, indent=2))
    else:
        _print_desc(desc)


@app.command()
def serve(
    state_dir: StateDir = Path(".state"),
    topology: Annotated[str | None, typer.Option()] = None,
    timing: Annotated[str | None, typer.Option()] = None,
    control_port: Annotated[int, typer.Option()] = 0,
    release: Release = None,
    clusters: Clusters = 1,
    prefix: Prefix = None,
) -> None:
    """Run the lab in the foreground (what ``up`` starts in the background)."""
    releases = _releases(release)
    _check_fleet(topology, clusters, prefix, releases)
    asyncio.run(
        runner.serve(
            topology,
            state_dir,
            timing,
            control_port,
            clusters=clusters,
            prefix=prefix,
            releases=releases,
        )
    )


@app.command()
def servicenow(
    state_dir: StateDir = Path(".state"),
    records: Annotated[
        Path | None,
        typer.Option(help="YAML of change records (default: the lab's servicenow_records.yaml)"),
    ] = None,
    address: Annotated[str, typer.Option(help="loopback address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0: any free port)")] = 0,
) -> None:
    """Run the ServiceNow Table API twin in the foreground, with its change records, and print
    the inventory's itsm: block that points at it (Ctrl-C stops it)."""
    from lab.servicenow import DEFAULT_RECORDS, ServiceNowTwin, load_records

    try:
        rows = load_records(records or DEFAULT_RECORDS)
        twin = ServiceNowTwin(state_dir / "lab" / "servicenow", rows, address=address, port=port)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        console.print(f"[red]cannot start the ServiceNow twin: {exc}[/red]")
        raise typer.Exit(2) from None

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with twin:
            block = {
                "itsm": {
                    "kind": "servicenow",
                    "url": twin.url,
                    "credentials": {
                        "username": twin.username,
                        "password": f"file:{twin.password_file}",
                    },
                    "ca_file": str(twin.ca_file),
                }
            }
            console.print(f"ServiceNow twin on {twin.url}, {len(rows)} change record(s)")
            console.print("updates: GET /twin/updates; inventory block:")
            console.print(yaml.safe_dump(block, sort_keys=False), markup=False)
            await stop.wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        console.print("ServiceNow twin stopped")
    except OSError as exc:
        console.print(f"[red]cannot listen on {address}:{port}: {exc.strerror or exc}[/red]")
        raise typer.Exit(2) from None


@app.command()
def fault(
    kind: Annotated[str, typer.Argument(help="fault kind, or 'clear' / 'list'")],
    node: Annotated[str | None, typer.Option()] = None,
    target: Annotated[str | None, typer.Option()] = None,
    rate: Annotated[float, typer.Option()] = 1.0,
    count: Annotated[int | None, typer.Option()] = None,
    param: Annotated[list[str] | None, typer.Option(help="key=value")] = None,
    cluster: ClusterName = None,
    state_dir: StateDir = Path(".state"),
) -> None:
    """Inject a fault (e.g. ``unreachable --node cucm-sub1``), ``clear`` or ``list`` them."""
    url = _control_url(runner.read_descriptor(state_dir), cluster)

    async def run() -> Any:
        async with LabControl(url) as ctl:
            if kind == "clear":
                return [f.model_dump() for f in await ctl.clear_faults()]
            if kind == "list":
                return [f.model_dump() for f in await ctl.faults()]
            params = dict(p.split("=", 1) for p in (param or []))
            f = Fault.model_validate(
                {
                    "kind": kind,
                    "node": node,
                    "target": target,
                    "rate": rate,
                    "count": count,
                    "params": params,
                }
            )
            return (await ctl.add_fault(f)).model_dump()

    typer.echo(json.dumps(asyncio.run(run()), indent=2))


@app.command("sso-enable")
def sso_enable(cluster: ClusterName = None, state_dir: StateDir = Path(".state")) -> None:
    """Re-enable SAML SSO as an administrator does in the CUCM GUI (no CLI does it on CUCM)."""
    url = _control_url(runner.read_descriptor(state_dir), cluster)

    async def run() -> None:
        async with LabControl(url) as ctl:
            await ctl.sso_enable()

    asyncio.run(run())
    console.print("SAML SSO enabled (as from System > SAML Single Sign-On in the GUI)")


@app.command()
def adcs(
    action: Annotated[str, typer.Argument(help="list | issue | deny")],
    request_id: Annotated[int | None, typer.Argument(help="the request ID (issue, deny)")] = None,
    reason: Annotated[str, typer.Option(help="why a request is denied")] = "",
    state_dir: StateDir = Path(".state"),
) -> None:
    """Act as the ADCS CA manager: ``list`` the requests, ``issue`` or ``deny`` a pending one."""
    if action not in ("list", "issue", "deny"):
        raise typer.BadParameter("list, issue or deny", param_hint="ACTION")
    if action != "list" and request_id is None:
        raise typer.BadParameter(f"{action} needs the request ID", param_hint="REQUEST_ID")
    desc = runner.read_descriptor(state_dir)

    async def run() -> Any:
        async with LabControl(desc["control_url"]) as ctl:
            if action == "list":
                return await ctl.adcs_requests()
            assert request_id is not None
            if action == "issue":
                return await ctl.adcs_issue(request_id)
            return await ctl.adcs_deny(request_id, reason)

    try:
        result = asyncio.run(run())
    except LabError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, indent=2))


@app.command()
def journal(
    kind: Annotated[str | None, typer.Option()] = None,
    node: Annotated[str | None, typer.Option()] = None,
    cluster: ClusterName = None,
    state_dir: StateDir = Path(".state"),
) -> None:
    """Print the journal of state changes."""
    url = _control_url(runner.read_descriptor(state_dir), cluster)

    async def run() -> None:
        async with LabControl(url) as ctl:
            for e in await ctl.journal(kind=kind, node=node):
                typer.echo(json.dumps(e.model_dump()))

    asyncio.run(run())
