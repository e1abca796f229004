"""Process settings for workers, the CLI and the dev server, read from ``UCRENEW_*`` variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.clients.secrets import SecretRef
from workers.health import parse_health_listen

__all__ = ["LogLevel", "SettingsError", "UcrenewSettings", "load_settings"]

LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v),
]
"""A logging level by name, in any case."""


class UcrenewSettings(BaseSettings):
    """Where state lives and how to reach Temporal.

    Every field can be set through an environment variable named ``UCRENEW_<FIELD>``, e.g.
    ``UCRENEW_TEMPORAL_ADDRESS=temporal.example.net:7233``. Secrets are references only
    (``env:NAME`` or ``file:PATH``); relative ``file:`` paths are relative to the current
    directory, like ``state_dir``.

    Attributes:
        state_dir: Directory for the dev server's SQLite file, pid and log files, and the
            default inventory.
        temporal_address: ``host:port`` of the Temporal frontend.
        temporal_ui_port: Web UI port of the embedded dev server.
        namespace: Temporal namespace.
        temporal_tls: TLS to the Temporal frontend: ``true``, ``false``, or unset (the default)
            for on as soon as any of the TLS settings below or an API key is given.
        temporal_tls_ca_file: PEM file of the CA that signed the frontend's certificate; the
            system's trust store when unset (Temporal Cloud's certificates chain to it).
        temporal_tls_server_name: Name to check the frontend's certificate against, when it is
            not the host of ``temporal_address`` (an IP address or a load balancer's name).
        temporal_tls_client_cert_ref: Reference to the PEM client certificate (chain) for mTLS.
        temporal_tls_client_key_ref: Reference to its PEM private key; both or neither.
        temporal_api_key_ref: Reference to an API key (Temporal Cloud, or a self-hosted
            cluster with an authorizer), sent as ``authorization: Bearer …``; needs TLS.
        task_queue: Task queue the workers poll.
        inventory: Path of ``clusters.yaml``; defaults to ``<state_dir>/clusters.yaml``.
        trust_dir: Where the per-cluster trust files live (the CA certificates of the chains
            ucrenew installed); defaults to ``<state_dir>/trust``. Every worker and the CLI
            must see the same directory (shared storage in a multi-worker deployment).
        codec_key_ref: Reference to the active AES-256 payload key (32 bytes, base64 or hex);
            no encryption when unset.
        codec_key_id: Identifier stored with each encrypted payload, for key rotation.
        codec_previous_key_refs: Retired key ids mapped to key references, still accepted
            for decryption (``UCRENEW_CODEC_PREVIOUS_KEY_REFS='{"k1": "file:old.key"}'``).
        log_format: ``text`` (default) or ``json``: one JSON object per line, with the
            change id, cluster, node and phase as fields (``UCRENEW_LOG_FORMAT=json``).
        log_level: Level of ucrenew's own log lines in the worker.
        library_log_level: Level of the libraries' log lines (asyncssh, httpx, httpcore,
            zeep, Temporal's internals); WARNING keeps their per-request chatter out.
        cli_log_level: Level of ucrenew's own log lines in the CLI (its output is the
            tables; the log adds warnings only by default).
        service_base_url: Base URL of the ucrenew service (``UCRENEW_SERVICE_BASE_URL``):
            links to a renewal's page, ``{base_url}/renewals/{change_id}``, in what ucrenew
            writes to change records and in the details a renewal shows in the Temporal UI;
            no link when unset.
        fleet_scan_minutes: How often the fleet scan's Temporal Schedule reads every
            cluster's certificates (``ucrenew dev up`` creates it, ``ucrenew fleet schedule``
            in production).
        fleet_warning_days: A certificate expiring within this many days is drift in the
            fleet view.
        fleet_start_jitter_minutes: The renewals the scheduled scan starts are spread over
            this window, each cluster at an offset of its own (a hash of its name); 0 starts
            them all at once.
        cucm_retry_attempts: How often discovery (and preflight, which reads it) tries a
            read of a CUCM node that failed transiently (HTTP 5xx, a SOAP fault, a throttle,
            no answer) before it reports the fault as a problem; 1 = no retry.
        cucm_retry_seconds: The first wait before such a retry; each further wait doubles.
        cucm_throttle_seconds: The first wait after a throttle that says nothing about when
            to come back (the realtime limit counts per minute); doubles likewise.
        cucm_retry_max_wait_seconds: The longest single wait, the node's own ``Retry-After``
            included.
        workflow_cache_size: How many workflow runs a worker keeps in memory (Temporal's
            ``max_cached_workflows``). A renewal parked at its approval or CA wait is two runs
            (the renewal and its cluster lock); a run not in the cache is replayed from its
            whole history at its next event (an approval, say), which is what makes a burst
            of approvals slow. The default holds 750 parked renewals beside a scan and a
            campaign; memory per cached run is in docs/operator-guide.md.
        workflow_task_slots: How many workflow tasks a worker takes at once (Temporal's
            ``max_concurrent_workflow_tasks``). They run one at a time on the worker's
            interpreter, so a task taken waits for those before it: more slots than the
            worker clears within the workflow task timeout (10 s) turn a burst of approvals
            into timed-out tasks, retried from their whole history. 20 (Temporal's default is
            100): with 100, 100 renewals starting at once on 2 cores had 94 workflow tasks
            over 5 s; with 20, 500 had none (``bench/bench_scale.py``).
        workflow_task_pollers: How many workflow-task polls a worker keeps open at once.
        worker_health_listen: ``[host:]port`` of the worker's ``/healthz`` and ``/readyz``
            endpoint for probes (``workers/health.py``); off when unset, loopback when no
            host is given (the image sets ``0.0.0.0:8081`` for the kubelet).
        metrics_listen: ``ip:port`` where a worker serves its Prometheus metrics
            (``http://<ip>:<port>/metrics``: the SDK's ``temporal_*`` metrics and ucrenew's
            ``ucrenew_*``), e.g. ``0.0.0.0:9464`` in a pod; unset (the default) serves none.
            Only workers serve it, never the CLI.
        metrics_refresh_seconds: How often a worker serving metrics counts the renewals in
            flight (one visibility listing of the running renewals of its task queue).
        stateless: Refuse to keep secrets or renewal state on the worker's disk
            (``UCRENEW_STATELESS=true``; the setting for several replicas, e.g. on
            Kubernetes): an ACME CA needs ``account_key`` as a reference, the local CA needs
            ``local_ca_key_ref`` and ``local_ca_chain_ref``, and open ACME orders are resumed
            from the renewal's own state. Off by default, for the embedded stack and the lab.
        local_ca_key_ref: Reference to the local CA's issuing private key (PEM, RSA); with
            ``local_ca_chain_ref`` the local CA comes from these instead of
            ``<state_dir>/ca/local``, the same on every worker.
        local_ca_chain_ref: Reference to the local CA's issuing certificate followed by its
            root (PEM; public, but kept beside its key).
        worker_shutdown_seconds: After SIGTERM, how long running activities get to finish
            before they are cancelled (Temporal's ``graceful_shutdown_timeout``); the worker
            takes no new task meanwhile. The default covers the longest activity that does
            not heartbeat (a CA submission or poll: 2 minutes); heartbeating activities are
            cancelled at the end and retried by another worker. Kubernetes'
            ``terminationGracePeriodSeconds`` must be longer.
    """

    # hide_input_in_errors: a literal pasted where a reference belongs must not be echoed.
    model_config = SettingsConfigDict(
        env_prefix="UCRENEW_", frozen=True, extra="forbid", hide_input_in_errors=True
    )

    state_dir: Path = Path(".state")
    temporal_address: str = "127.0.0.1:7233"
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    namespace: str = "default"
    temporal_tls: bool | None = None
    temporal_tls_ca_file: Path | None = None
    temporal_tls_server_name: str | None = Field(default=None, min_length=1)
    temporal_tls_client_cert_ref: SecretRef | None = None
    temporal_tls_client_key_ref: SecretRef | None = None
    temporal_api_key_ref: SecretRef | None = None
    task_queue: str = "ucrenew"
    inventory: Path | None = None
    trust_dir: Path | None = None
    codec_key_ref: SecretRef | None = None
    codec_key_id: str = Field(default="ucrenew-1", min_length=1)
    codec_previous_key_refs: dict[str, SecretRef] = Field(default_factory=dict)
    log_format: Literal["text", "json"] = "text"
    log_level: LogLevel = "INFO"
    library_log_level: LogLevel = "WARNING"
    cli_log_level: LogLevel = "WARNING"
    service_base_url: str | None = None
    fleet_scan_minutes: int = Field(default=60, ge=1)
    fleet_warning_days: int = Field(default=30, ge=0)
    fleet_start_jitter_minutes: int = Field(default=30, ge=0)
    cucm_retry_attempts: int = Field(default=3, ge=1, le=10)
    cucm_retry_seconds: float = Field(default=2.0, ge=0.0, le=300.0)
    cucm_throttle_seconds: float = Field(default=30.0, ge=0.0, le=300.0)
    cucm_retry_max_wait_seconds: float = Field(default=60.0, ge=0.0, le=300.0)
    workflow_cache_size: int = Field(default=1600, ge=0)
    workflow_task_slots: int = Field(default=20, ge=2)
    workflow_task_pollers: int = Field(default=5, ge=2)
    worker_health_listen: str | None = None

    @field_validator("worker_health_listen")
    @classmethod
    def _check_health_listen(cls, value: str | None) -> str | None:
        if value is not None and parse_health_listen(value)[1] == 0:
            raise ValueError("give the port the probes call, not 0")
        return value

    metrics_listen: str | None = None
    metrics_refresh_seconds: float = Field(default=15.0, ge=1.0, le=3600.0)

    @field_validator("metrics_listen")
    @classmethod
    def _ip_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        try:
            ipaddress.ip_address(host.strip("[]"))
            ok = bool(sep) and port.isdigit() and 0 < int(port) < 65536
        except ValueError:
            ok = False
        if not ok:
            # The SDK's metrics server binds an address, not a name.
            raise ValueError("must be ip:port with an IP address, e.g. 0.0.0.0:9464")
        return value

    stateless: bool = False
    local_ca_key_ref: SecretRef | None = None
    local_ca_chain_ref: SecretRef | None = None
    worker_shutdown_seconds: float = Field(default=130.0, ge=0.0, le=3600.0)

    @model_validator(mode="after")
    def _local_ca_pair(self) -> Self:
        if (self.local_ca_key_ref is None) != (self.local_ca_chain_ref is None):
            raise ValueError(
                "UCRENEW_LOCAL_CA_KEY_REF and UCRENEW_LOCAL_CA_CHAIN_REF go together: "
                "set both (the issuing key and its certificate chain) or neither"
            )
        return self

    @model_validator(mode="after")
    def _default_inventory(self) -> Self:
        if self.inventory is None:
            # frozen model: set the derived default without going through __setattr__
            object.__setattr__(self, "inventory", self.state_dir / "clusters.yaml")
        return self

    @property
    def inventory_path(self) -> Path:
        """The inventory path, never ``None`` once the settings are built."""
        assert self.inventory is not None
        return self.inventory

    @property
    def trust_path(self) -> Path:
        """The trust directory: ``trust_dir``, else ``<state_dir>/trust``."""
        return self.trust_dir or self.state_dir / "trust"

    @property
    def temporal_dir(self) -> Path:
        """Directory of the embedded dev server's database, pid file and log."""
        return self.state_dir / "temporal"

    @property
    def temporal_host_port(self) -> tuple[str, int]:
        """``temporal_address`` split into host and port.

        Raises:
            ValueError: The address has no numeric port.
        """
        host, sep, port = self.temporal_address.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"temporal_address {self.temporal_address!r} is not host:port")
        return host.strip("[]"), int(port)


class SettingsError(ValueError):
    """``UCRENEW_*`` variables that do not validate; the message names each variable and why,
    never the value (it may be a secret pasted where its reference belongs)."""


def load_settings() -> UcrenewSettings:
    """The settings from ``UCRENEW_*`` variables, or one error naming the variables to fix.

    Raises:
        SettingsError: A variable does not validate, e.g. ``UCRENEW_TEMPORAL_API_KEY_REF``
            holding a key instead of its reference.
    """
    try:
        return UcrenewSettings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False):
            loc = error.get("loc") or ()
            name = f"UCRENEW_{str(loc[0]).upper()}" if loc else "UCRENEW_* settings"
            problems.append(f"{name}: {error.get('msg', 'invalid')}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
