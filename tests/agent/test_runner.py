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
from agent.probers.shared import Shared
from agent.redact import Redactor
from agent.results import Compliance, Finding, Reason
from agent.runner import execute
from agent.text import MESSAGE_LIMIT
from agent.vocabulary import Detail


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


CARD = "4539148803436467"
TOKEN = "tok-from-a-file-0099"


async def echoes_its_credential(config: Empty, ctx: ProbeContext) -> None:
    """A run that sent TOKEN (read from a file: only the run knows it) to a target that
    answered 12 KiB of junk with the token and a card number in it."""
    ctx.secrets.add(TOKEN)
    ctx.info[Detail.TLS_VERSION] = f"TLS 1.3 {TOKEN}"
    junk = "\x00\n" * 6000
    raise ProbeFailed(Reason.PROTOCOL_ERROR, f"denied {TOKEN} for card {CARD}: {junk}")


async def test_a_message_is_scrubbed_with_the_runs_own_secrets_then_bounded() -> None:
    result = await execute(
        spec_of(echoes_its_credential),
        Empty(),
        probe_id="p/i/x",
        timeout=1,
        redactor=Redactor(["agent-known-secret"]),
    )
    assert result.message.startswith(
        "denied <redacted> for card **** **** **** 6467: \\x00\\n\\x00\\n"
    )
    assert result.message.endswith("… (12,048 characters)")  # the length once scrubbed
    assert len(result.message) <= MESSAGE_LIMIT
    assert result.info_value(Detail.TLS_VERSION) == "TLS 1.3 <redacted>"


async def answers_with_a_card(config: Empty, ctx: ProbeContext) -> None:
    ctx.secrets.add(TOKEN)
    ctx.facts["STATUS"] = 200
    ctx.facts["NOTE"] = f"card {CARD} for {TOKEN} " + "z" * 1000


async def test_condition_outcomes_are_scrubbed_and_bounded_like_messages() -> None:
    facts = (
        Fact("STATUS", FactType.INT, Reason.STATUS_MISMATCH, "status"),
        Fact("NOTE", FactType.STRING, Reason.BODY_MISMATCH, "note"),
    )
    spec = ProberSpec(kind="fake", model=Empty, probe=answers_with_a_card, facts=facts)
    texts = (f"[STATUS] != {CARD}", f"[NOTE] == {'q' * 400}", f"[NOTE] contains {TOKEN}")
    conditions = [compile_condition(t, spec.fact_table()) for t in texts]
    result = await execute(spec, Empty(), probe_id="p/i/x", timeout=1, conditions=conditions)
    card, long, token = result.conditions
    assert card.text == "[STATUS] != **** **** **** 6467" and card.success
    assert card.observed == "[STATUS] (200) != **** **** **** 6467"
    assert long.observed.startswith("[NOTE] (card **** **** **** 6467 for <redacted> zzz")
    assert long.observed.endswith(" characters)") and len(long.observed) <= MESSAGE_LIMIT
    assert token.text == "[NOTE] contains <redacted>" and token.success
    assert result.message == long.observed  # the one that failed
    assert CARD not in repr(result) and TOKEN not in repr(result)


class QuotesTheBody:
    name = "quotes"

    def evaluate(self, run: RunView) -> Finding:
        return Finding(self.name, Compliance.FAIL, f"saw {run.facts['NOTE']}", run.facts["NOTE"])


async def test_findings_are_scrubbed_and_bounded_too() -> None:
    spec = spec_of(answers_with_a_card)
    result = await execute(spec, Empty(), probe_id="p/i/x", timeout=1, policies=[QuotesTheBody()])
    (finding,) = result.findings
    assert finding.reason.startswith("saw card **** **** **** 6467 for <redacted> zzz")
    assert len(finding.reason) <= MESSAGE_LIMIT and len(finding.evidence) <= MESSAGE_LIMIT


async def test_a_bug_that_recurs_every_run_is_logged_loudly_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = Shared()
    with caplog.at_level(logging.DEBUG, logger="oversight.probe"):
        for _ in range(3):
            result = await execute(
                spec_of(crashes), Empty(), probe_id="p/i/x", timeout=1, shared=shared
            )
            assert result.reason is Reason.INTERNAL_ERROR
    said = [(r.levelname, bool(r.exc_info), r.getMessage()) for r in caplog.records]
    assert said == [
        ("ERROR", True, "probe p/i/x raised; reported as internal_error "
         "(the same again is logged at debug)"),
        ("DEBUG", False, "probe p/i/x raised; reported as internal_error again"),
        ("DEBUG", False, "probe p/i/x raised; reported as internal_error again"),
    ]  # fmt: skip
