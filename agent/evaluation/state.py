"""Integration state from its probes' results: ok, degraded, down, impacted, unknown.

A probe counts as down after ``failures_to_down`` failures in a row and as up again after
``successes_to_recover`` successes (hysteresis, like Gatus and Icinga), so one lost packet does
not flip a state; from ``unknown`` the first result decides, as there is no history to protect.
An integration that is down while something it depends on (transitively) is down is
``impacted``, with the root cause named: the fault is elsewhere, so it must not page anyone.
A flow fails at a step that calls some integration (``Result.cause``): the flow's integration
is down with that one as its root cause, or impacted when that one is down too. Too many
changes within a window mark it flapping. The counters live here, not in results.
Staleness is found from a heap of deadlines (when each latest result stops counting), so a
sweep touches only the integrations whose results have just gone stale, never all of them.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from agent.config.models import StateSettings
from agent.plan import IntegrationPlan, Plan
from agent.results import Breach, Result
from agent.thresholds import signal_of


class State(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    IMPACTED = "impacted"
    UNKNOWN = "unknown"


STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class IntegrationStatus:
    state: State
    reason: str  # one line a person can read: which probe, what it saw
    since: float
    # pattern/name of the down dependency when impacted, or of the integration a failing flow
    # step called (down: only the flow sees the fault; impacted: that one is down too)
    root_cause: str | None = None
    flapping: bool = False
    changes: int = 0  # state changes since the agent started


@dataclass(frozen=True, slots=True)
class Transition:
    integration: str
    old: State
    new: State
    at: float
    reason: str
    root_cause: str | None = None


@dataclass(slots=True)
class _ProbeHealth:
    up: bool | None = None
    successes: int = 0  # in a row
    failures: int = 0  # in a row


@dataclass(slots=True)
class _Memory:
    base: State = State.UNKNOWN  # from its own probes, before dependencies
    base_reason: str = "no result yet"
    blamed: tuple[str, ...] = ()  # integrations its failing flows' steps called
    status: IntegrationStatus | None = None
    changes_at: deque[float] | None = None  # created on the first change: most never change


class StateTracker:
    """Feeds on results, one at a time; keeps every integration's status current.

    Work per result is proportional to the integration's probes and its dependants, not to
    the whole plan; staleness is found by ``sweep``, which the App calls every few seconds.
    """

    def __init__(self, plan: Plan, latest: Mapping[str, Result], now: float) -> None:
        self._latest = latest
        self._health: dict[str, _ProbeHealth] = {}
        self._memory: dict[str, _Memory] = {}
        self._statuses: dict[str, IntegrationStatus] = {}
        self._stale: list[tuple[float, str, float]] = []  # (stale at, probe id, result started)
        self.set_plan(plan, now)

    def set_plan(self, plan: Plan, now: float) -> list[Transition]:
        """Adopt a (re)loaded plan: drop what left, keep what stayed, recompute everything."""
        self.plan = plan
        self.settings: StateSettings = plan.agent.state
        self._health = {k: v for k, v in self._health.items() if k in plan.probes}
        self._memory = {k: self._memory.get(k, _Memory()) for k in plan.integrations}
        self._statuses = {k: v for k, v in self._statuses.items() if k in plan.integrations}
        self._dependants: dict[str, list[str]] = {k: [] for k in plan.integrations}
        for key, integration in plan.integrations.items():
            for dep in (*integration.depends_on, *integration.calls):
                if dep in self._dependants and key not in self._dependants[dep]:
                    self._dependants[dep].append(key)
        for key in plan.integrations:
            self._recompute_base(key, now)
        return [t for key in plan.integrations if (t := self._settle(key, now))]

    def forget_probe(self, probe_id: str) -> None:
        self._health.pop(probe_id, None)

    def observe(self, result: Result, now: float) -> list[Transition]:
        """Take one result; return the state changes it caused (its integration and dependants)."""
        health = self._health.setdefault(result.probe_id, _ProbeHealth())
        if result.success:
            health.failures, health.successes = 0, health.successes + 1
            if health.up is None or health.successes >= self.settings.successes_to_recover:
                health.up = True
        else:
            health.successes, health.failures = 0, health.failures + 1
            if health.up is None or health.failures >= self.settings.failures_to_down:
                health.up = False
        probe = self.plan.probes.get(result.probe_id)
        if probe is None:
            return []
        stale_at = result.started + STALE_AFTER_INTERVALS * probe.interval + probe.timeout
        heapq.heappush(self._stale, (stale_at, probe.id, result.started))
        key = probe.integration_key
        self._recompute_base(key, now)
        return self._settle_with_dependants(key, now)

    def sweep(self, now: float) -> list[Transition]:
        """Turn integrations whose results stopped arriving into ``unknown``: only those whose
        latest result has just gone stale are looked at."""
        due: set[str] = set()
        while self._stale and self._stale[0][0] < now:
            _, probe_id, started = heapq.heappop(self._stale)
            latest = self._latest.get(probe_id)
            probe = self.plan.probes.get(probe_id)
            if latest is not None and probe is not None and latest.started == started:
                due.add(probe.integration_key)  # still its latest result: it has gone stale
        changed = []
        for key in due:
            before = self._memory[key].base
            self._recompute_base(key, now)
            if self._memory[key].base != before:
                changed += self._settle_with_dependants(key, now)
        return changed

    def probe_up(self, probe_id: str) -> bool | None:
        health = self._health.get(probe_id)
        return None if health is None else health.up

    def status(self, key: str) -> IntegrationStatus:
        status = self._memory[key].status
        assert status is not None
        return status

    def statuses(self) -> Mapping[str, IntegrationStatus]:
        """Every integration's status, live (read it synchronously)."""
        return MappingProxyType(self._statuses)

    # -- internals -------------------------------------------------------------------------

    def _recompute_base(self, key: str, now: float) -> None:
        integration = self.plan.integrations[key]
        memory = self._memory[key]
        memory.base, memory.base_reason, memory.blamed = self._base(integration, now)

    def _base(self, integration: IntegrationPlan, now: float) -> tuple[State, str, tuple[str, ...]]:
        down, degraded, unknown = [], [], []
        blamed: list[str] = []
        for probe_id in integration.probes:
            probe = self.plan.probes[probe_id]
            result = self._latest.get(probe_id)
            up = self.probe_up(probe_id)
            if result is None or up is None:
                unknown.append(f"{probe.name}: no result yet")
            elif now - result.started > STALE_AFTER_INTERVALS * probe.interval + probe.timeout:
                unknown.append(f"{probe.name}: no result for {now - result.started:.0f}s")
            elif not up:
                last = result if not result.success else None
                detail = f"{last.reason}: {last.message}" if last else "recovering"
                down.append(f"{probe.name}: {detail}")
                culprit = last.cause if last is not None else None
                if culprit is not None and culprit in self.plan.integrations:
                    blamed.append(culprit)
            elif result.breaches:
                texts = [describe_breach(b) for b in result.breaches]
                said = f": {result.message}" if result.message else ""  # a plugin's own words
                degraded.append(f"{probe.name}: {', '.join(texts)}{said}")
        if down:
            return State.DOWN, "; ".join(down), tuple(blamed)
        if unknown:
            return State.UNKNOWN, "; ".join(unknown), ()
        if degraded:
            return State.DEGRADED, "; ".join(degraded), ()
        return State.OK, "", ()

    def _root_cause(self, key: str) -> str | None:
        """The first down dependency (depth first) none of whose own dependencies is down.
        Only dependencies in the plan count: a shard cannot see one held by another shard."""
        seen: set[str] = set()

        def walk(node: str) -> str | None:
            for dep in self.plan.integrations[node].depends_on:
                if dep in seen or dep not in self._memory:
                    continue
                seen.add(dep)
                deeper = walk(dep)
                if deeper is not None:
                    return deeper
                if self._memory[dep].base is State.DOWN:
                    return dep
            return None

        return walk(key)

    def _culprit(self, blamed: tuple[str, ...]) -> tuple[str, bool]:
        """The root cause of a flow's failure and whether it is down: the first integration
        its failing steps called that is down (or what that one is down because of), else
        the first one called."""
        for called in blamed:
            if self._memory[called].base is State.DOWN:
                return self._root_cause(called) or called, True
        return blamed[0], False

    def _settle_with_dependants(self, key: str, now: float) -> list[Transition]:
        transitions = []
        queue, seen = deque([key]), {key}
        while queue:
            node = queue.popleft()
            if (t := self._settle(node, now)) is not None:
                transitions.append(t)
            for dependant in self._dependants[node]:
                if dependant not in seen:
                    seen.add(dependant)
                    queue.append(dependant)
        return transitions

    def _settle(self, key: str, now: float) -> Transition | None:
        memory = self._memory[key]
        state, reason, cause = memory.base, memory.base_reason, None
        if state is State.DOWN:
            cause = self._root_cause(key)
            if cause is None and memory.blamed:
                cause, culprit_down = self._culprit(memory.blamed)
                # down: only the flow sees the fault, whose integration is named, not down
                state = State.IMPACTED if culprit_down else State.DOWN
                if cause == key:  # the called one depends on this one: no one else to blame
                    cause, state = None, State.DOWN
            elif cause is not None:
                state = State.IMPACTED
            if state is State.IMPACTED:
                reason = f"{cause} is down; {reason}"
        old = memory.status
        window = self.settings.flapping_window
        if old is not None and old.state is state:
            flapping = (
                _count_since(memory.changes_at, now - window) >= self.settings.flapping_changes
            )
            if (reason, cause, flapping) != (old.reason, old.root_cause, old.flapping):
                memory.status = self._statuses[key] = IntegrationStatus(
                    state, reason, old.since, cause, flapping, old.changes
                )
            return None
        if old is not None:
            if memory.changes_at is None:
                memory.changes_at = deque(maxlen=1000)
            memory.changes_at.append(now)
        flapping = _count_since(memory.changes_at, now - window) >= self.settings.flapping_changes
        changes = old.changes + 1 if old is not None else 0
        memory.status = self._statuses[key] = IntegrationStatus(
            state, reason, now, cause, flapping, changes
        )
        if old is None:
            return None
        return Transition(key, old.state, state, now, reason, cause)


def _count_since(times: deque[float] | None, since: float) -> int:
    if times is None:
        return 0
    while times and times[0] < since:
        times.popleft()
    return len(times)


def describe_breach(breach: Breach) -> str:
    """``latency warning (406ms vs 250ms)``: the signal, how bad, the value against its level."""
    signal = signal_of(breach.signal)
    if signal is not None and signal.describe is not None:
        return signal.describe(breach)

    def fmt(value: float) -> str:
        return signal.format(value) if signal else f"{value:g}"

    return f"{breach.signal} {breach.severity} ({fmt(breach.value)} vs {fmt(breach.limit)})"
