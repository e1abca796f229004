"""``ucrenew admin …``: one-time set-up of the Temporal namespace ucrenew runs in."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from console.common import CliError, connect_error, run_async, settings

__all__ = ["admin_app"]

admin_app = typer.Typer(
    help="Set up the Temporal namespace ucrenew runs in (run once per namespace).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@admin_app.command("init")
@run_async
async def admin_init(
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            help="namespace to prepare (default: UCRENEW_NAMESPACE)",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Register ucrenew's search attributes in the namespace; running it again changes
    nothing. Connects like the workers do (UCRENEW_TEMPORAL_*: TLS, mTLS, API key)."""
    from workers.namespace_setup import NamespaceInitError, init_namespace
    from workers.temporal_connect import TemporalConnectError, connect_client

    s = settings()
    ns = namespace or s.namespace
    try:
        client = await connect_client(s, namespace=ns)
    except TemporalConnectError as err:
        raise connect_error(err) from None
    try:
        outcome = await init_namespace(client, ns)
    except NamespaceInitError as err:
        raise CliError(str(err)) from None
    if json_out:
        typer.echo(json.dumps(outcome.as_json()))
        return
    for name, kind in outcome.added.items():
        typer.echo(f"added    {name} ({kind})")
    for name, kind in outcome.present.items():
        typer.echo(f"present  {name} ({kind})")
    typer.echo(
        f"namespace {ns} is ready for ucrenew: {len(outcome.added)} search attribute(s) "
        f"added, {len(outcome.present)} already present"
    )
