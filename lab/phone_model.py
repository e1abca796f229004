"""The phones of a twin cluster as data: who they are, where they may register, what they hold.

:func:`build_phones` derives the population from the topology's device pools and CM groups;
:class:`~lab.phones.PhoneSystem` moves the phones, and RisPort reports them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from lab import facts
from lab.topology import TopologySpec

Protocol = Literal["SCCP", "SIP"]
REGISTERED = "Registered"
UNREGISTERED = "UnRegistered"


@dataclass(eq=False)
class Phone:
    """One phone and what the cluster knows about it.

    Attributes:
        name: Device name (``SEP`` + MAC).
        protocol: SCCP or SIP.
        pool: Device pool name.
        group: CM group name.
        members: Host names of the group's nodes, primary first.
        secure: Whether the phone has a secure (TLS) profile; matters in mixed mode only.
        dn: Directory number.
        ip: IPv4 address the phone reports.
        phase: Per-phone fraction in (0, 1] that spreads detection delays deterministically.
        node: Host name of the node the phone is registered with, None when unregistered.
        records: Per node the RIS record: (status, epoch seconds, status reason).
        itl: CallManager fingerprints of the ITL the phone holds.
        trusted: CallManager fingerprints of the CTL the phone holds.
    """

    name: str
    protocol: Protocol
    pool: str
    group: str
    members: tuple[str, ...]
    secure: bool
    dn: str
    ip: str
    phase: float
    node: str | None = None
    records: dict[str, tuple[str, float, int]] = field(default_factory=dict)
    itl: frozenset[str] = frozenset()
    trusted: frozenset[str] = frozenset()
    epoch: int = 0
    waiting: bool = False
    rejected: bool = False
    resetting: bool = False
    reset_queued: bool = False
    attempts: int = 0
    fallback_epoch: int = -1

    def rank(self, hostname: str | None) -> int:
        """Priority of a node in the phone's group (0 = primary); past the end if absent."""
        if hostname is None or hostname not in self.members:
            return len(self.members)
        return self.members.index(hostname)


def build_phones(spec: TopologySpec) -> list[Phone]:
    """The phone population a topology describes, in device-pool order (deterministic).

    Secure phones are spread evenly so that ``secure_fraction`` of every prefix is secure.
    """
    groups = {g.name: tuple(g.members) for g in spec.resolved_cm_groups()}
    rng = random.Random(f"{spec.cluster}/{spec.seed}")
    fraction = spec.phones.secure_fraction
    phones: list[Phone] = []
    for pool in spec.resolved_device_pools():
        sccp: list[Protocol] = ["SCCP"] * pool.sccp
        sip: list[Protocol] = ["SIP"] * pool.sip
        for protocol in sccp + sip:
            index = len(phones)
            phones.append(
                Phone(
                    name=f"SEP{facts.PHONE_MAC_BASE + index:012X}",
                    protocol=protocol,
                    pool=pool.name,
                    group=pool.cm_group,
                    members=groups[pool.cm_group],
                    secure=int((index + 1) * fraction) > int(index * fraction),
                    dn=str(facts.PHONE_FIRST_DN + index),
                    ip=f"10.{20 + index // 62500}.{index // 250 % 250}.{index % 250 + 1}",
                    phase=1.0 - rng.random(),
                )
            )
    return phones
