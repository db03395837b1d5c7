"""The fault timeline: a valid schedule, applied and reverted in order, logged, and cleaned up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from agent.demo import (
    SCHEDULE,
    DemoServices,
    Fault,
    Step,
    format_schedule,
    run_timeline,
)
from agent.demo.timeline import PERIOD, check_schedule, events
from agent.demo.topology import integrations

SPEED = 100.0  # a 180 s cycle in 1.8 s


class Recorder(logging.Handler):
    """Keeps each line with the faults every service had when it was logged."""

    def __init__(self, demo: DemoServices) -> None:
        super().__init__()
        self.demo = demo
        self.lines: list[tuple[str, dict[str, Fault]]] = []
        self.log = logging.getLogger(f"test.demo.timeline.{id(self)}")
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        self.log.addHandler(self)
        self._logged = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        faults = {key: service.fault for key, service in self.demo.items()}
        self.lines.append((record.getMessage(), faults))
        self._logged.set()

    async def seen(self, text: str) -> None:
        """Return once a line containing ``text`` has been logged."""
        while not any(text in message for message in self.messages):
            self._logged.clear()
            await self._logged.wait()

    @property
    def messages(self) -> list[str]:
        return [message for message, _ in self.lines]


@pytest.fixture
def recorder(demo: DemoServices) -> Iterator[Recorder]:
    recorder = Recorder(demo)
    yield recorder
    recorder.log.removeHandler(recorder)


def test_the_default_schedule_fits_and_starts_within_20s() -> None:
    check_schedule(SCHEDULE, PERIOD)
    assert min(step.at for step in SCHEDULE) <= 20
    assert {step.fault for step in SCHEDULE} == {
        "latency",
        "status",
        "down",
        "near_expiry",
        "pool_leak",
        "stale_tokens",
    }
    assert {step.target for step in SCHEDULE} <= {i.key for i in integrations()}
    outage = [s for s in SCHEDULE if s.target == "account/core_ledger"]
    assert [(s.fault, s.at, s.end) for s in outage] == [("status", 10, 30), ("down", 30, 70)]


@pytest.mark.parametrize(
    ("step", "text"),
    [
        (
            Step(30, 40, "account/core_ledger", "down", True),
            "account/core_ledger goes down (refusing connections) for 40s",
        ),
        (
            Step(5, 45, "bill_pay/payment_processor", "latency", 0.4),
            "bill_pay/payment_processor slows down (+400ms on every answer) for 45s",
        ),
        (
            Step(10, 20, "account/core_ledger", "status", 503),
            'account/core_ledger answers 503 with {"status": "DOWN"} for 20s',
        ),
        (
            Step(15, 75, "client/kyc_vendor", "near_expiry", True),
            "client/kyc_vendor serves a certificate that expires in 5 days for 75s",
        ),
        (
            Step(20, 140, "bill_pay/payment_workflow", "pool_leak", 0.5),
            "bill_pay/payment_workflow leaks database connections (0.5 a second, never returned)"
            " for 140s",
        ),
    ],
)
def test_steps_describe_themselves_in_one_line(step: Step, text: str) -> None:
    assert step.describe() == text


def test_descriptions_follow_the_speed() -> None:
    step = Step(30, 40, "account/core_ledger", "down", True)
    assert step.describe(SPEED) == "account/core_ledger goes down (refusing connections) for 400ms"
    assert step.describe_recovery() == "account/core_ledger is back up (accepting connections)"


def test_format_schedule_lists_every_step() -> None:
    lines = format_schedule().splitlines()
    assert lines[0] == "fault timeline (repeats every 3m):"
    assert (
        lines[1]
        == "  +    5s  bill_pay/payment_processor slows down (+400ms on every answer) for 45s"
    )
    assert len(lines) == len(SCHEDULE) + 1


def test_events_revert_before_applying_at_the_same_instant() -> None:
    timeline = [(e.at, e.step.target, e.step.fault, e.apply) for e in events()]
    assert timeline[:7] == [
        (5, "bill_pay/payment_processor", "latency", True),
        (10, "account/core_ledger", "status", True),
        (15, "client/kyc_vendor", "near_expiry", True),
        (20, "bill_pay/payment_workflow", "pool_leak", True),
        (30, "account/core_ledger", "status", False),
        (30, "account/core_ledger", "down", True),
        (50, "bill_pay/payment_processor", "latency", False),
    ]
    assert len(timeline) == 2 * len(SCHEDULE)
    assert [at for at, *_ in timeline] == sorted(at for at, *_ in timeline)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ((Step(170, 20, "account/core_ledger", "down", True),), "does not fit in a 180s period"),
        ((Step(5, 0, "account/core_ledger", "down", True),), "does not fit"),
        (
            (
                Step(10, 20, "account/core_ledger", "status", 503),
                Step(25, 10, "account/core_ledger", "status", 500),
            ),
            "steps overlap: account/core_ledger answers 503",
        ),
    ],
)
def test_bad_schedules_are_refused(schedule: tuple[Step, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_schedule(schedule, PERIOD)


async def test_unknown_targets_are_refused(demo: DemoServices) -> None:
    with pytest.raises(ValueError, match="unknown integrations: account/mainframe"):
        await run_timeline(demo, schedule=(Step(1, 1, "account/mainframe", "down", True),))


async def test_a_cycle_applies_and_reverts_every_step_in_order(
    demo: DemoServices, recorder: Recorder
) -> None:
    await asyncio.wait_for(run_timeline(demo, speed=SPEED, cycles=1, log=recorder.log), 10)
    expected = ["demo: fault timeline, cycle 1 (repeats every 1.8s)"] + [
        f"demo: {e.step.describe(SPEED) if e.apply else e.step.describe_recovery()}"
        for e in events()
    ]
    assert recorder.messages == expected
    for (_, faults), event in zip(recorder.lines[1:], events(), strict=True):
        observed = getattr(faults[event.step.target], event.step.fault)
        assert observed == (event.step.value if event.apply else getattr(Fault(), event.step.fault))
    assert all(service.fault == Fault() for service in demo.values())
    _, writer = await asyncio.open_connection("127.0.0.1", demo["account/core_ledger"].port)
    writer.close()


async def test_cancelling_clears_the_faults_still_set(
    demo: DemoServices, recorder: Recorder
) -> None:
    task = asyncio.create_task(run_timeline(demo, speed=SPEED, log=recorder.log))
    await asyncio.wait_for(recorder.seen("account/core_ledger goes down"), 5)
    assert demo["account/core_ledger"].fault.down
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(service.fault == Fault() for service in demo.values())
    assert "demo: account/core_ledger is back up (accepting connections) (timeline stopped)" in (
        recorder.messages
    )
    _, writer = await asyncio.open_connection("127.0.0.1", demo["account/core_ledger"].port)
    writer.close()


async def test_the_timeline_repeats(demo: DemoServices, recorder: Recorder) -> None:
    schedule = (Step(1, 2, "client/kyc_vendor", "status", 500),)
    await asyncio.wait_for(
        run_timeline(demo, schedule=schedule, period=5, speed=50, cycles=3, log=recorder.log), 10
    )
    assert recorder.messages == [
        line
        for n in (1, 2, 3)
        for line in (
            f"demo: fault timeline, cycle {n} (repeats every 100ms)",
            'demo: client/kyc_vendor answers 500 with {"status": "DOWN"} for 40ms',
            "demo: client/kyc_vendor answers 200 again",
        )
    ]
