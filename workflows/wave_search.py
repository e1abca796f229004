"""Which wave each restarting node goes in: a branch-and-bound search over phone-safe waves.

The rules it enforces are those of ``workflows.restarts`` (its module docstring): every
CallManager group keeps a running member in every wave, publishers' Tomcat goes first, as few
waves as that allows, and among those the fewest groups whose home node restarts before its
other members. The search is bounded by a step budget, so it stays cheap inside a workflow
task; when the budget runs out a greedy descent still returns a safe plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workflows.restart_models import CmGroup, RestartNode, RestartPlanInput


@dataclass
class Facts:
    """What the search needs, derived once from the input."""

    nodes: list[RestartNode]
    work: dict[str, tuple[str, ...]]
    split_work: dict[str, tuple[str, ...]]
    down: list[str]
    groups: list[CmGroup]
    live: dict[str, list[str]]
    preds: dict[str, list[str]]
    total_phones: int
    notes: list[str] = field(default_factory=list)


@dataclass
class _GroupCheck:
    """A group's conditions, checked when the last of its restarting members gets a wave."""

    group: CmGroup
    home: str | None
    others: list[str]
    must_split: bool


@dataclass
class _Search:
    """Branch-and-bound over the waves of the nodes whose CallManager restarts."""

    facts: Facts
    k: int
    cap_nodes: int | None
    cap_phones: float | None
    budget: int
    pinned: dict[str, int]
    steps: int = 0
    exhausted: bool = False
    best: dict[str, int] | None = None
    best_cost: tuple[int, int] = (0, 0)
    order: list[str] = field(default_factory=list)
    closing: list[list[_GroupCheck]] = field(default_factory=list)
    home_phones: dict[str, int] = field(default_factory=dict)
    wave: dict[str, int] = field(default_factory=dict)
    count: list[int] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)
    homes: list[int] = field(default_factory=list)

    def run(self) -> None:
        order = self.facts.down
        index = {n: i for i, n in enumerate(order)}
        closing: list[list[_GroupCheck]] = [[] for _ in order]
        self.home_phones = {n: 0 for n in order}
        for g in self.facts.groups:
            live = self.facts.live[g.name]
            restarting = [m for m in live if m in index]
            if not restarting:
                continue
            home = live[0] if live[0] in index else None
            if home is not None:
                self.home_phones[home] += g.phones
            others = [m for m in restarting if m != home]
            check = _GroupCheck(
                group=g,
                home=home,
                others=others,
                must_split=len(live) >= 2 and len(restarting) == len(live),
            )
            closing[max(index[m] for m in restarting)].append(check)
        self.order = order
        self.closing = closing
        self.wave: dict[str, int] = {}
        self.count = [0] * self.k
        for w in self.pinned.values():
            self.count[w] += 1
        self.moved = [0] * self.k
        self.homes = [0] * self.k
        self._dfs(0, (0, 0))

    def _dfs(self, i: int, cost: tuple[int, int]) -> None:
        if self.exhausted or (self.best is not None and self.best_cost == (0, 0)):
            return
        self.steps += 1
        if self.steps > self.budget:
            self.exhausted = True
            return
        if i == len(self.order):
            if _place_free(self.facts, self.wave, self.pinned, self.cap_nodes, self.k) is None:
                return
            if self.best is None or cost < self.best_cost:
                self.best = dict(self.wave)
                self.best_cost = cost
            return
        node = self.order[i]
        low = 0
        for p in self.facts.preds.get(node, ()):
            placed = self.wave.get(p, self.pinned.get(p))
            if placed is not None:
                low = max(low, placed + 1)
        for w in range(low, self.k):
            if self.cap_nodes is not None and self.count[w] >= self.cap_nodes:
                continue
            phones = self.home_phones[node]
            if not self._phones_fit(w, phones):
                continue
            self.wave[node] = w
            added = self._close(i)
            if added is not None:
                new_cost = (cost[0] + added[0], cost[1] + added[1])
                if self.best is None or new_cost < self.best_cost:
                    self.count[w] += 1
                    self.moved[w] += phones
                    self.homes[w] += 1 if phones else 0
                    self._dfs(i + 1, new_cost)
                    self.count[w] -= 1
                    self.moved[w] -= phones
                    self.homes[w] -= 1 if phones else 0
            del self.wave[node]

    def _phones_fit(self, w: int, phones: int) -> bool:
        if self.cap_phones is None or not phones or not self.homes[w]:
            return True
        return self.moved[w] + phones <= self.cap_phones * self.facts.total_phones

    def _close(self, i: int) -> tuple[int, int] | None:
        """Check the groups complete at node ``i``: None if one has no running member."""
        phones = groups = 0
        for check in self.closing[i]:
            members = ([check.home] if check.home else []) + check.others
            waves = {self.wave[m] for m in members}
            if check.must_split and len(waves) == 1:
                return None
            if check.home is not None and any(
                self.wave[o] > self.wave[check.home] for o in check.others
            ):
                phones += check.group.phones
                groups += 1
        return (phones, groups)


def _place_free(
    facts: Facts,
    wave: dict[str, int],
    pinned: dict[str, int],
    cap_nodes: int | None,
    k: int,
) -> dict[str, int] | None:
    """Put the nodes whose restarts drop no phones in their earliest allowed wave.

    Returns:
        The full assignment, or None when it needs more than ``k`` waves.
    """
    full = {**wave, **pinned}
    count: dict[int, int] = {}
    for w in full.values():
        count[w] = count.get(w, 0) + 1
    for n in facts.nodes:
        if n.fqdn not in facts.work or n.fqdn in full:
            continue
        w = max((full[p] + 1 for p in facts.preds.get(n.fqdn, ()) if p in full), default=0)
        while cap_nodes is not None and count.get(w, 0) >= cap_nodes:
            w += 1
        if w >= k:
            return None
        full[n.fqdn] = w
        count[w] = count.get(w, 0) + 1
    return full


def assign_waves(inp: RestartPlanInput, facts: Facts) -> tuple[dict[str, int], bool]:
    """Waves for every node with work: the fewest, then the least fail-back risk."""
    down = set(facts.down)
    pinned: dict[str, int] = {}
    for n in facts.nodes:
        successors = [s for s, ps in facts.preds.items() if n.fqdn in ps]
        if n.fqdn in facts.work and n.fqdn not in down and any(s in down for s in successors):
            # A publisher whose Tomcat must precede a restarting CallManager node goes first,
            # so the search can bound that node's wave from below.
            pinned[n.fqdn] = 0
    upper = len(facts.work) + 3
    cap_phones = inp.max_phone_fraction_per_wave if facts.total_phones else None
    budget = inp.search_budget
    for k in range(1, upper + 1):
        if budget <= 0:
            break
        search = _Search(
            facts=facts,
            k=k,
            cap_nodes=inp.max_nodes_per_wave,
            cap_phones=cap_phones,
            budget=budget,
            pinned=pinned,
        )
        search.run()
        budget -= search.steps
        if search.best is not None:
            full = _place_free(facts, search.best, pinned, inp.max_nodes_per_wave, k)
            if full is not None:
                return full, not search.exhausted
    # Out of budget: one greedy descent with room for every node in a wave of its own always
    # reaches a leaf (a fresh wave satisfies every check), so this cannot fail.
    greedy = _Search(
        facts=facts,
        k=upper,
        cap_nodes=inp.max_nodes_per_wave,
        cap_phones=cap_phones,
        budget=len(facts.down) + 1,
        pinned=pinned,
    )
    greedy.run()
    if greedy.best is None:
        raise AssertionError("greedy descent found no wave assignment")
    full = _place_free(facts, greedy.best, pinned, inp.max_nodes_per_wave, upper)
    if full is None:
        raise AssertionError("greedy descent left a node without a wave")
    return full, False
