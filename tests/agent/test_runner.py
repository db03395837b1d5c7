"""The runner: one deadline over the whole run, every outcome a Result, never an exception."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from pydantic import BaseModel

from agent import vocabulary as v
from agent.conditions.facts import Fact, FactType
from agent.conditions.parser import compile_condition
from agent.policies.base import RunView
from agent.probers.base import ProbeContext, ProbeFailed, ProberSpec
from agent.results import Compliance, Finding, Reason
from agent.runner import execute


class Empty(BaseModel):
    pass


def spec_of(probe: Any) -> ProberSpec:
    facts = (Fact("STATUS", FactType.INT, Reason.STATUS_MISMATCH, "status"),)
    return ProberSpec(kind="fake", model=Empty, probe=probe, facts=facts)


async def hangs(config: Empty, ctx: ProbeContext) -> None:
    with ctx.phase("connect"):
        await asyncio.sleep(0.01)
    with ctx.phase("processing"):
        await asyncio.sleep(3600)


async def refuses(config: Empty, ctx: ProbeContext) -> None:
    raise ProbeFailed(Reason.CONNECT_REFUSED, "connection refused")


async def crashes(config: Empty, ctx: ProbeContext) -> None:
    raise KeyError("bug")


async def answers_503(config: Empty, ctx: ProbeContext) -> None:
    ctx.facts["STATUS"] = 503
    ctx.values[v.HTTP_STATUS_CODE] = 503


async def test_the_deadline_covers_the_whole_run_and_keeps_the_phases_so_far() -> None:
    started = time.monotonic()
    result = await execute(spec_of(hangs), Empty(), probe_id="p/i/x", timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert (result.success, result.reason) == (False, Reason.TIMEOUT)
    assert result.message == "no answer within 0.3s (during processing)"
    assert [name for name, _ in result.phases] == ["connect", "processing"]


async def test_a_targets_fault_is_its_reason() -> None:
    result = await execute(spec_of(refuses), Empty(), probe_id="p/i/x", timeout=1)
    assert (result.reason, result.message) == (Reason.CONNECT_REFUSED, "connection refused")


async def test_our_bug_is_internal_error_with_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        result = await execute(spec_of(crashes), Empty(), probe_id="p/i/x", timeout=1)
    assert (result.reason, result.message) == (Reason.INTERNAL_ERROR, "KeyError: 'bug'")
    assert "Traceback" in caplog.text and "probe p/i/x raised" in caplog.text


async def test_a_failed_condition_names_its_reason_and_what_was_seen() -> None:
    spec = spec_of(answers_503)
    conditions = [compile_condition(t, spec.fact_table()) for t in ("[STATUS] == 200",)]
    result = await execute(spec, Empty(), probe_id="p/i/x", timeout=1, conditions=conditions)
    assert (result.reason, result.message) == (Reason.STATUS_MISMATCH, "[STATUS] (503) == 200")
    assert result.value(v.HTTP_STATUS_CODE) == 503


class SeesStatus:
    name = "sees_status"

    def evaluate(self, run: RunView) -> Finding:
        ok = run.facts.get("STATUS") == 200
        return Finding(self.name, Compliance.PASS if ok else Compliance.FAIL, "status")


class Broken:
    name = "broken"

    def evaluate(self, run: RunView) -> Finding:
        raise RuntimeError("bug")


async def test_policies_see_the_run_and_a_broken_one_is_not_applicable() -> None:
    result = await execute(
        spec_of(answers_503),
        Empty(),
        probe_id="p/i/x",
        timeout=1,
        policies=[SeesStatus(), Broken()],
    )
    assert result.findings == (
        Finding("sees_status", Compliance.FAIL, "status"),
        Finding("broken", Compliance.NOT_APPLICABLE, "the policy could not be evaluated"),
    )
