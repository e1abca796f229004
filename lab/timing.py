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
