"""Timing profiles of the twin: how long services take to move between states.

The realistic profile follows cucm-interfaces.md §13 (Tomcat restart in minutes, web apps
deploying after [STARTED]); the fast profile keeps the same sequence of states and the same
ordering guarantees with millisecond durations, for tests and the demo.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from lab import facts


class ServiceTiming(BaseModel):
    """Seconds a service spends in each transitional state."""

    stopping: float
    starting: float


class PhoneTiming(BaseModel):
    """How phones of the twin move between nodes (lab/phones.py); values are seconds.

    Defaults are the realistic values (operations-facts.md B1, cucm-interfaces.md §9, §13).
    """

    #: SCCP failover after a clean Cisco CallManager stop: the node closes TCP, the phone
    #: moves to its standby connection "nearly instantly" (spread per phone up to this).
    sccp_failover: float = 1.0
    #: SCCP Station KeepAlive Interval: a silent (unreachable) node is noticed after 2-3 misses.
    sccp_keepalive: float = 30.0
    #: SIP Timer Register Delta (the earliest a SIP phone re-registers elsewhere).
    sip_register_delta: float = 5.0
    #: SIP Station KeepAlive Interval: SIP phones take up to this to register with another node.
    sip_keepalive: float = 120.0
    #: Delay between the primary's CallManager returning and its phones falling back.
    fallback_delay: float = 30.0
    #: Registrations a node accepts per second (token bucket), by protocol (SRND: ~125 / ~40).
    registration_rate_sccp: float = 125.0
    registration_rate_sip: float = 40.0
    #: Registrations a node accepts at once before the rate applies (bucket depth).
    registration_burst: int = 10
    #: Time a phone is down for a reset (reboot, ITL/CTL download) before it re-registers.
    reset_duration: float = 60.0
    #: Phones reset per batch, and the pause between batches, after a certificate update.
    reset_batch: int = 100
    reset_interval: float = 10.0
    #: CSCup28852: period of the repeated resets.
    cscup28852_interval: float = 420.0
    #: Finest step of the phone scheduler (events closer than this are handled together).
    tick: float = 0.05


class TimingProfile(BaseModel):
    """All durations of the twin; values are seconds."""

    name: str
    default_service: ServiceTiming
    services: dict[str, ServiceTiming] = Field(default_factory=dict)
    #: Delay between the SSH connection and the ``admin:`` prompt.
    cli_banner_delay: float = 0.0
    #: How long ``utils dbreplication runtimestate`` takes to answer.
    dbreplication_delay: float = 0.0
    #: How long ``utils service restart`` waits for the end state before giving up.
    cli_service_wait: float = facts.CLI_SERVICE_WAIT
    #: How often the CLI repeats a [STARTING]/[STOPPING] line while it waits.
    cli_progress_interval: float = facts.CLI_PROGRESS_INTERVAL
    #: Delay before a trust upload reaches the other nodes.
    replication_delay: float = 0.0
    #: Requests per minute per node for the Control Center / RisPort "realtime" bucket.
    realtime_rate_per_minute: int = 100_000
    #: Idle timeout of an OS Administration (/cmplatform) session: a server setting, not a
    #: transition, so :meth:`scaled` keeps it.
    cmplatform_session_idle: float = facts.CMPLATFORM_SESSION_IDLE_SECONDS
    #: Phone registration, failover and reset timings.
    phones: PhoneTiming = Field(default_factory=PhoneTiming)

    def scaled(self, factor: float, name: str | None = None) -> TimingProfile:
        """The same profile with every duration multiplied by ``factor`` and every rate
        divided by it: the proportions of the original, in less wall time (benchmarks)."""

        def svc(t: ServiceTiming) -> ServiceTiming:
            return ServiceTiming(stopping=t.stopping * factor, starting=t.starting * factor)

        p = self.phones
        phones = p.model_copy(
            update={
                "sccp_failover": p.sccp_failover * factor,
                "sccp_keepalive": p.sccp_keepalive * factor,
                "sip_register_delta": p.sip_register_delta * factor,
                "sip_keepalive": p.sip_keepalive * factor,
                "fallback_delay": p.fallback_delay * factor,
                "registration_rate_sccp": p.registration_rate_sccp / factor,
                "registration_rate_sip": p.registration_rate_sip / factor,
                "reset_duration": p.reset_duration * factor,
                "reset_interval": p.reset_interval * factor,
                "cscup28852_interval": p.cscup28852_interval * factor,
                "tick": min(p.tick, p.tick * factor * 10),
            }
        )
        return self.model_copy(
            update={
                "name": name or f"{self.name}x{factor:g}",
                "default_service": svc(self.default_service),
                "services": {k: svc(v) for k, v in self.services.items()},
                "cli_banner_delay": self.cli_banner_delay * factor,
                "dbreplication_delay": self.dbreplication_delay * factor,
                "cli_service_wait": self.cli_service_wait * factor,
                "cli_progress_interval": self.cli_progress_interval * factor,
                "replication_delay": self.replication_delay * factor,
                "realtime_rate_per_minute": int(self.realtime_rate_per_minute / factor),
                "phones": phones,
            }
        )

    def for_service(self, name: str) -> ServiceTiming:
        """The timing of one service, falling back to the default."""
        return self.services.get(name, self.default_service)


REALISTIC = TimingProfile(
    name="realistic",
    default_service=ServiceTiming(stopping=5.0, starting=20.0),
    services={
        "Cisco Tomcat": ServiceTiming(stopping=15.0, starting=120.0),
        "Cisco CallManager": ServiceTiming(stopping=20.0, starting=90.0),
        "Cisco CTIManager": ServiceTiming(stopping=10.0, starting=40.0),
        "Cisco Tftp": ServiceTiming(stopping=5.0, starting=30.0),
        "Cisco XCP Router": ServiceTiming(stopping=10.0, starting=60.0),
    },
    cli_banner_delay=8.0,
    dbreplication_delay=30.0,
    replication_delay=2.0,
    realtime_rate_per_minute=15,
    phones=PhoneTiming(),
)

FAST = TimingProfile(
    name="fast",
    default_service=ServiceTiming(stopping=0.005, starting=0.01),
    services={
        "Cisco Tomcat": ServiceTiming(stopping=0.02, starting=0.05),
    },
    cli_banner_delay=0.0,
    dbreplication_delay=0.0,
    cli_service_wait=5.0,
    cli_progress_interval=0.05,
    replication_delay=0.0,
    realtime_rate_per_minute=100_000,
    phones=PhoneTiming(
        sccp_failover=0.002,
        sccp_keepalive=0.01,
        sip_register_delta=0.005,
        sip_keepalive=0.04,
        fallback_delay=0.02,
        registration_rate_sccp=5000.0,
        registration_rate_sip=2000.0,
        registration_burst=10,
        reset_duration=0.02,
        reset_batch=20,
        reset_interval=0.005,
        cscup28852_interval=0.3,
        tick=0.002,
    ),
)

PROFILES = {p.name: p for p in (REALISTIC, FAST)}


def profile(name: str) -> TimingProfile:
    """Look a profile up by name."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown timing profile {name!r}; choose one of {sorted(PROFILES)}"
        ) from None
