"""Phone resets ordered by primary: each CallManager's phones reset just before it stops.

A CallManager certificate change costs every phone one reset (it must fetch the ITL that names
the new certificate) and, when its primary's Cisco CallManager restarts, a failover. An SCCP
phone fails over at once when the service stops cleanly, but a SIP phone waits up to the SIP
Station KeepAlive Interval (120 s by default) before registering elsewhere (operations-facts.md
B1). Resetting every phone first and restarting afterwards pays both. Resetting the phones of
a node just before its Cisco CallManager stops pays the reset only: a phone that boots while
its primary is down registers with the next member of its CallManager group (failover walks
the group's list, cucm-interfaces.md §9), and falls back once the primary is up again.

The stages for a wave that moves phones are therefore:

1. the SCCP phones registered with the nodes the wave stops, in gated batches (each batch
   re-registers before the next): they are back on their primary before it stops and then
   fail over in about a second, so nothing is gained by holding them back;
2. the SIP phones registered there, batches sent back to back, and the wave at once: they are
   still booting when their primary stops, and register with their secondary;
3. the wave.

Phones that were not registered when their node's turn came (a reset cannot reach them), or
that live on nodes no wave stops, are reset in a last gated sweep after the waves. Each wave
moves at most :data:`PRIMARY_WAVE_PHONE_SHARE` of the phones by default, so no single
CallManager stop fails over more than half of them (issue 14's goal) and a wave's SIP phones
are the most that are ever resetting at once.

Whether CUCM releases before 14 leave the phones alone after the certificate change (so that
no phone is reset twice, once by CUCM when the first node serves the new certificate) is not
confirmed: ``inferred.NO_AUTOMATIC_PHONE_RESET_BEFORE_14``.
"""

from __future__ import annotations

from collections.abc import Sequence

from activities.catalog import CALLMANAGER
from workflows.restart_models import RestartWave, RolloutStage

#: The most phones one wave may fail over, as a share of all, when resets go by primary and
#: the change sets no cap of its own (``RenewalOptions.max_phone_fraction_per_wave``).
PRIMARY_WAVE_PHONE_SHARE = 0.5


def _callmanager_stops(wave: RestartWave) -> list[str]:
    return [r.node for r in wave.nodes if CALLMANAGER in r.services]


def stages_by_primary(
    waves: Sequence[RestartWave], *, ctl_update_first: bool
) -> list[RolloutStage]:
    """The rollout with the phone resets of each wave's home nodes right before the wave.

    Args:
        waves: the restart waves, in order; the first restarts TVS and TFTP everywhere.
        ctl_update_first: mixed mode: the CTL update comes before any restart.

    Returns:
        Stages in execution order (see the module docstring).
    """
    stages: list[RolloutStage] = []
    if ctl_update_first:
        stages.append(RolloutStage(kind="ctl-update"))
    for position, wave in enumerate(waves):
        homes = sorted({f.from_node for f in wave.failovers})
        if homes:
            stages.append(RolloutStage(kind="phone-resets", nodes=homes, protocol="SCCP"))
            stages.append(
                RolloutStage(kind="phone-resets", nodes=homes, protocol="SIP", gated=False)
            )
        gate = wave.phones_affected > 0
        following = waves[position + 1 : position + 2] if gate else []
        stages.append(
            RolloutStage(
                kind="wave",
                wave=wave.index,
                health_gate=gate,
                drain=[n for w in following for n in _callmanager_stops(w)],
            )
        )
    stages.append(RolloutStage(kind="phone-resets", sweep=True))
    return stages


def describe(stage: RolloutStage) -> str:
    """One line for ``ucrenew plan`` and the plan's steps: what a phone-resets stage does."""
    if stage.sweep:
        return (
            "phone resets: the registered phones no earlier reset reached, in batches, each "
            "back before the next (AXL doDeviceReset; they fetch the new ITL and CTL)"
        )
    if not stage.nodes:
        return (
            "phone resets: every registered phone, in batches taken from each node in turn, "
            "each batch back before the next (AXL doDeviceReset; phones fetch the new ITL "
            "and CTL)"
        )
    where = ", ".join(stage.nodes)
    if stage.gated:
        return (
            f"phone resets: the {stage.protocol} phones on {where}, in batches, each back "
            "before the next (they fail over in about a second when it stops)"
        )
    return (
        f"phone resets: the {stage.protocol} phones on {where}, batches back to back, then "
        "the wave at once: they boot while it restarts and register with their secondary "
        "instead of waiting out the SIP keepalive"
    )
