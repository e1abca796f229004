"""Input and output of the restart planner (workflows.restarts).

The input is the part of a cluster's topology that decides how services may be restarted:
nodes with their version and activated services, CallManager groups with the phones they
serve, the purposes being renewed and the security mode. The output is a ``RestartPlan``:
ordered waves, each naming per node the services to restart in order, with the phone impact
the wave is expected to have. Both cross the Temporal boundary, so fields are only ever added
with defaults.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from activities.catalog import KeyType, Product, Purpose

Role = Literal["publisher", "subscriber"]
Strategy = Literal["rolling", "naive"]

_VERSION = re.compile(r"^\s*\d+")


class RestartNode(BaseModel):
    """One CUCM or IM&P node as the restart planner needs it."""

    fqdn: str
    product: Product = "cucm"
    role: Role = "subscriber"
    version: str = Field(description="as the node reports it, e.g. 12.5.1.14900-63")
    services: list[str] = Field(
        default_factory=list,
        description=(
            "activated feature services (Cisco CallManager, Cisco Tftp, ...); network "
            "services (Cisco Tomcat, Cisco HAProxy, Cisco XCP Router) are assumed everywhere"
        ),
    )

    @field_validator("version")
    @classmethod
    def _starts_with_major(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError(f"version {value!r} does not start with a major number")
        return value


class CmGroup(BaseModel):
    """A Unified CM group: the ordered nodes its phones register to, and how many phones."""

    name: str
    members: list[str] = Field(min_length=1, max_length=3, description="primary first")
    phones: int = Field(default=0, ge=0, description="phones whose device pool uses the group")


class RestartPlanInput(BaseModel):
    """Everything the restart planner decides from."""

    cluster: str
    nodes: list[RestartNode]
    groups: list[CmGroup] = Field(default_factory=list)
    purposes: list[Purpose]
    security_mode: int = Field(default=0, description="0 non-secure, 1 mixed mode")
    callmanager_key: KeyType = "RSA"
    tftp_last_cluster_wide: bool = Field(
        default=True,
        description=(
            "restart Cisco Tftp everywhere in a final wave, once every CallManager, CTIManager "
            "and TVS already runs with the new certificate"
        ),
    )
    staged_phone_resets: bool = Field(
        default=False,
        description=(
            "ucrenew resets the phones itself (Cisco's 'reset phones' step): TVS and TFTP "
            "restart first so the new ITL is served, then the phones reset in gated batches "
            "before the first CallManager wave; applies to a CallManager change whose plan "
            "restarts Cisco Tftp"
        ),
    )
    resets_by_primary: bool = Field(
        default=False,
        description=(
            "with staged phone resets: reset the phones of each CallManager a wave stops just "
            "before that wave (SCCP ones in gated batches, then the SIP ones, the wave right "
            "after), instead of every phone before the first CallManager wave; a SIP phone "
            "then comes back on its secondary instead of waiting out its keepalive. Waves "
            "move at most PRIMARY_WAVE_PHONE_SHARE of the phones unless a cap is given"
        ),
    )
    max_nodes_per_wave: int | None = Field(default=None, ge=1)
    tomcat_max_parallel: int = Field(
        default=1,
        ge=1,
        description=(
            "Cisco Tomcat restarts of a change without phone impact: 1 restarts one node at a "
            "time (publisher first); more restarts the CUCM publisher alone, then up to this "
            "many nodes at once, at most one IM&P node per wave, the IM&P publisher first"
        ),
    )
    max_phone_fraction_per_wave: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description=(
            "cap on the phones that fail over in one wave, as a fraction of all phones; a wave "
            "whose failing-over phones all share one home node may exceed it"
        ),
    )
    search_budget: int = Field(
        default=20_000,
        ge=1,
        description=(
            "search steps before settling for the best plan found (or a greedy one); bounds "
            "the planner's time inside a workflow task"
        ),
    )


class NodeRestart(BaseModel):
    """The services one node restarts in one wave, in order."""

    node: str
    product: Product = "cucm"
    role: Role = "subscriber"
    services: list[str]
    unavailable: list[str] = Field(
        default_factory=list,
        description="what users of this node cannot use while it restarts (Cisco Tomcat)",
    )


class Failover(BaseModel):
    """Phones of a group that lose their home node for the length of a wave."""

    group: str
    phones: int
    from_node: str
    to_node: str | None = Field(description="where they register meanwhile; None: nowhere")


class RestartWave(BaseModel):
    """Nodes restarted together; the next wave starts when this one is healthy again."""

    index: int = Field(description="1-based")
    nodes: list[NodeRestart]
    failovers: list[Failover] = Field(default_factory=list)
    phones_affected: int = 0
    phones_stranded: int = Field(default=0, description="phones with no running group member")
    tomcat_up: list[str] = Field(
        default_factory=list,
        description="nodes whose Cisco Tomcat keeps serving during a wave that restarts it "
        "elsewhere: where web administration, AXL and Jabber sign-in remain meanwhile",
    )


class UnavoidableImpact(BaseModel):
    """Impact no ordering can avoid, said so an operator can accept or fix it first."""

    group: str
    phones: int
    node: str
    wave: int
    reason: str


StageKind = Literal["ctl-update", "wave", "phone-resets"]


class RolloutStage(BaseModel):
    """One step of the rollout after the uploads, in the order the workflow runs them.

    ``ctl-update``: ``utils ctl update CTLFile`` on the publisher (mixed mode). ``wave``: the
    nodes of wave ``wave`` restart; with ``health_gate`` the phones must be back (and gone
    from the ``drain`` nodes, which the next wave stops) before the next stage. ``phone-resets``:
    ucrenew resets the registered phones in gated batches.
    """

    kind: StageKind
    wave: int = Field(default=0, description="1-based wave index (wave stages)")
    nodes: list[str] = Field(
        default_factory=list,
        description="phone-resets: only the phones registered with these FQDNs (the nodes "
        "whose Cisco CallManager the next wave stops); empty: every registered phone",
    )
    protocol: Literal["Any", "SCCP", "SIP"] = Field(
        default="Any", description="phone-resets: only the phones of this protocol"
    )
    gated: bool = Field(
        default=True,
        description="phone-resets: each batch re-registers before the next; False: the "
        "batches go out back to back and the next wave starts at once (the phones come back "
        "on their secondary while their primary restarts)",
    )
    sweep: bool = Field(
        default=False,
        description="phone-resets: only the registered phones no earlier reset stage reached",
    )
    health_gate: bool = False
    drain: list[str] = Field(
        default_factory=list,
        description="FQDNs whose Cisco CallManager the next wave stops: phones that failed "
        "over to them must have fallen back before it starts",
    )


class RestartPlan(BaseModel):
    """Ordered restart waves for one change, with their expected phone impact."""

    cluster: str
    purposes: list[Purpose]
    strategy: Strategy
    ctl_update_first: bool = False
    reset_phones: bool = Field(
        default=False,
        description=(
            "ucrenew resets the registered phones in gated batches before the first wave "
            "that restarts Cisco CallManager"
        ),
    )
    waves: list[RestartWave] = Field(default_factory=list)
    unavoidable_impact: list[UnavoidableImpact] = Field(default_factory=list)
    total_phones: int = 0
    optimal: bool = Field(
        default=True, description="False when the search budget ran out before proving it"
    )
    notes: list[str] = Field(default_factory=list)
    stages: list[RolloutStage] = Field(
        default_factory=list, description="the rollout in execution order (from the planner)"
    )

    def wave(self, index: int) -> RestartWave:
        """Wave ``index`` (1-based)."""
        return self.waves[index - 1]
