"""The demo's scripted faults: what goes wrong, when and for how long, repeated every period."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from agent.demo.services import Fault
from agent.durations import format_duration

LOG = logging.getLogger("oversight.demo")
PERIOD = 180.0

Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]
FaultName = Literal["latency", "status", "down", "near_expiry", "pool_leak", "stale_tokens"]


class Target(Protocol):
    async def update(self, **changes: object) -> None: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One fault on one integration: set at ``at`` seconds into a cycle, cleared ``duration``
    seconds later. ``value`` is what the fault field becomes (0.4 s of latency, status 503,
    ``True`` for down / near_expiry)."""

    at: float
    duration: float
    target: str  # pattern/name
    fault: FaultName
    value: float | int | bool

    @property
    def end(self) -> float:
        return self.at + self.duration

    def describe(self, speed: float = 1.0) -> str:
        """``account/core_ledger goes down (refusing connections) for 40s``."""
        what = {
            "latency": f"slows down (+{_human(float(self.value))} on every answer)",
            "status": f'answers {self.value} with {{"status": "DOWN"}}',
            "down": "goes down (refusing connections)",
            "near_expiry": "serves a certificate that expires in 5 days",
            "pool_leak": f"leaks database connections ({self.value:g} a second, never returned)",
            "stale_tokens": "signs account tokens with a key the payment processor does not "
            "know yet (every health check stays green)",
        }[self.fault]
        return f"{self.target} {what} for {_human(self.duration / speed)}"

    def describe_recovery(self) -> str:
        what = {
            "latency": "is fast again",
            "status": "answers 200 again",
            "down": "is back up (accepting connections)",
            "near_expiry": "serves its renewed certificate again",
            "pool_leak": "is restarted: its connection pool is back to normal",
            "stale_tokens": "signs account tokens with the key the payment processor knows again",
        }[self.fault]
        return f"{self.target} {what}"


SCHEDULE: tuple[Step, ...] = (
    Step(5, 45, "bill_pay/payment_processor", "latency", 0.4),
    Step(10, 20, "account/core_ledger", "status", 503),
    Step(15, 75, "client/kyc_vendor", "near_expiry", True),
    Step(30, 40, "account/core_ledger", "down", True),
    Step(20, 140, "bill_pay/payment_workflow", "pool_leak", 0.5),
    Step(100, 30, "bill_pay/biller_network", "latency", 1.5),
    Step(110, 40, "account/account_service", "stale_tokens", True),
)
"""Latency -> degraded, an outage in two acts (503, then refused) whose dependants suffer,
a certificate about to expire, a connection pool that fills up (warning at 80% near 68s,
critical at 95% near 80s, full at 84s: the trend a forecast alert sees), a critical slowdown,
account tokens the payment processor rejects while every health check stays green (only the
pay-a-bill flow sees it); then a quiet spell, and again."""


@dataclass(frozen=True, slots=True)
class Event:
    """A step being applied (``apply``) or reverted, ``at`` seconds into a cycle."""

    at: float
    step: Step
    apply: bool


def events(schedule: tuple[Step, ...] = SCHEDULE) -> tuple[Event, ...]:
    """Every apply and revert of a cycle in time order; at equal times reverts go first, so a
    step that starts as another ends on the same field is not undone by it."""
    all_events = [Event(s.at, s, True) for s in schedule] + [
        Event(s.end, s, False) for s in schedule
    ]
    return tuple(sorted(all_events, key=lambda e: (e.at, e.apply)))


def check_schedule(schedule: tuple[Step, ...], period: float) -> None:
    """Raise ValueError when a step leaves the period or overlaps a step on the same field."""
    for step in schedule:
        if step.at < 0 or step.duration <= 0 or step.end > period:
            raise ValueError(f"step {step.describe()} does not fit in a {period:g}s period")
    for a in schedule:
        for b in schedule:
            same = a is not b and (a.target, a.fault) == (b.target, b.fault)
            if same and a.at <= b.at < a.end:
                raise ValueError(f"steps overlap: {a.describe()} / {b.describe()}")


def format_schedule(
    schedule: tuple[Step, ...] = SCHEDULE, *, period: float = PERIOD, speed: float = 1.0
) -> str:
    """The timeline as a few readable lines, for the demo's banner."""
    lines = [f"fault timeline (repeats every {_human(period / speed)}):"]
    lines += [f"  +{_human(s.at / speed):>6}  {s.describe(speed)}" for s in schedule]
    return "\n".join(lines)


async def run_timeline(
    services: Mapping[str, Target],
    *,
    schedule: tuple[Step, ...] = SCHEDULE,
    period: float = PERIOD,
    speed: float = 1.0,
    cycles: int | None = None,
    log: Logger = LOG,
) -> None:
    """Apply and revert ``schedule`` every ``period`` seconds (all times divided by ``speed``)
    for ``cycles`` cycles, or until cancelled. Each change is one INFO line. On the way out,
    cancelled or not, every fault still set is cleared."""
    if speed <= 0:
        raise ValueError(f"speed must be positive, not {speed:g}")
    check_schedule(schedule, period)
    missing = sorted({s.target for s in schedule} - set(services))
    if missing:
        raise ValueError(f"the timeline names unknown integrations: {', '.join(missing)}")
    loop = asyncio.get_running_loop()
    start = loop.time()
    active: list[Step] = []
    cycle = 0
    try:
        while cycles is None or cycle < cycles:
            base = start + cycle * period / speed
            log.info(
                "demo: fault timeline, cycle %d (repeats every %s)",
                cycle + 1,
                _human(period / speed),
            )
            for event in events(schedule):
                await asyncio.sleep(max(0.0, base + event.at / speed - loop.time()))
                if event.apply:
                    active.append(event.step)  # before switching: a cancel mid-way still reverts
                    await _switch(services, event.step, apply=True, log=log)
                    log.info("demo: %s", event.step.describe(speed))
                else:
                    await _switch(services, event.step, apply=False, log=log)
                    active.remove(event.step)
                    log.info("demo: %s", event.step.describe_recovery())
            cycle += 1
            await asyncio.sleep(max(0.0, start + cycle * period / speed - loop.time()))
    finally:
        for step in reversed(active):
            await _switch(services, step, apply=False, log=log)
            log.info("demo: %s (timeline stopped)", step.describe_recovery())


async def _switch(services: Mapping[str, Target], step: Step, *, apply: bool, log: Logger) -> None:
    """Set or clear one fault; a listener that cannot be rebound is logged, not fatal."""
    value = step.value if apply else getattr(Fault(), step.fault)
    try:
        await services[step.target].update(**{step.fault: value})
    except OSError as exc:
        log.warning("demo: could not set %s=%s on %s: %s", step.fault, value, step.target, exc)


def _human(seconds: float) -> str:
    if 0 < seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return format_duration(round(seconds, 1))
