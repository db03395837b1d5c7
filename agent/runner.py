"""Run one probe under one overall deadline and turn whatever happens into a Result.

The deadline covers DNS, connect, TLS and body together: per-read timeouts do not stop a
server that trickles a byte a second. A target's fault arrives as ``ProbeFailed``; anything
else is our bug, reported as ``internal_error`` and logged with its traceback (the first time;
a bug that recurs every run is then logged at debug). Nothing a target does escapes this
function.

Every text of the Result (message, condition outcomes, details, findings) is built here and
only here: scrubbed of the agent's secrets, the run's own credentials and card numbers, then
bounded to one escaped line of a few hundred characters (agent/text.py), so no output can
leak what a target echoed or be flooded by what it sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from agent.conditions.evaluate import Condition
from agent.logs import Repeats
from agent.plan import Plan, ProbePlan
from agent.policies.base import Policy, RunView
from agent.probers import REGISTRY
from agent.probers.base import ProbeContext, ProbeFailed, ProberSpec
from agent.probers.shared import Shared
from agent.redact import Redactor
from agent.results import Compliance, ConditionOutcome, Finding, Reason, Result
from agent.text import bounded
from agent.thresholds import Observed, ThresholdRule, check_all
from agent.vocabulary import Detail


async def run_probe(
    probe: ProbePlan,
    shared: Shared,
    *,
    log: logging.LoggerAdapter[logging.Logger] | None = None,
    trace_headers: Mapping[str, str] | None = None,
    trace_id: str | None = None,
    redactor: Redactor | None = None,
) -> Result:
    """One run of a planned probe as the agent makes it: its kind, deadline, conditions,
    thresholds and policies. Never raises for a target's fault. ``redactor`` holds the
    agent's known secrets."""
    return await execute(
        REGISTRY[probe.kind],
        probe.settings,
        probe_id=probe.id,
        timeout=probe.timeout,
        conditions=probe.conditions,
        thresholds=probe.thresholds,
        shared=shared,
        log=log,
        trace_headers=trace_headers,
        trace_id=trace_id,
        policies=probe.policies,
        redactor=redactor,
    )


async def run_once(plan: Plan) -> dict[str, Result]:
    """Every probe of ``plan`` once, concurrently under the agent's limit: id -> Result."""
    shared = Shared()
    limit = asyncio.Semaphore(plan.agent.concurrency)
    redactor = Redactor(plan.secrets)

    async def one(probe: ProbePlan) -> tuple[str, Result]:
        async with limit:
            return probe.id, await run_probe(probe, shared, redactor=redactor)

    try:
        return dict(await asyncio.gather(*(one(p) for p in plan.probes.values())))
    finally:
        await shared.close()


async def execute(
    kind: ProberSpec,
    config: Any,
    *,
    probe_id: str,
    timeout: float,
    conditions: Sequence[Condition] = (),
    thresholds: tuple[ThresholdRule, ...] = (),
    shared: Shared | None = None,
    log: logging.LoggerAdapter[logging.Logger] | None = None,
    trace_headers: Mapping[str, str] | None = None,
    trace_id: str | None = None,
    policies: Sequence[Policy] = (),
    redactor: Redactor | None = None,
) -> Result:
    """Run ``kind.probe`` once; always returns within ``timeout`` plus scheduling slack."""
    log = log or logging.LoggerAdapter(logging.getLogger("oversight.probe"), {"probe": probe_id})
    started_wall = time.time()
    started = time.monotonic()
    ctx = ProbeContext(
        deadline=started + timeout,
        log=log,
        shared=shared or Shared(),
        trace_headers=trace_headers or {},
    )
    reason: Reason | None = None
    message = ""
    outcomes: tuple[ConditionOutcome, ...] = ()
    try:
        async with asyncio.timeout(timeout):
            await kind.probe(config, ctx)
    except TimeoutError:
        reason, message = Reason.TIMEOUT, f"no answer within {timeout:g}s"
        if ctx.phases:
            message += f" (during {next(reversed(ctx.phases))})"
    except ProbeFailed as failed:
        reason, message = failed.reason, failed.message
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        level = ctx.shared.repeats.level((probe_id, type(exc).__name__), logging.ERROR)
        log.log(
            level,
            "probe %s raised; reported as internal_error%s",
            probe_id,
            " (the same again is logged at debug)" if level > logging.DEBUG else " again",
            exc_info=level > logging.DEBUG,
        )
        reason, message = Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
    duration = time.monotonic() - started
    scrub = (redactor or Redactor()).with_secrets(ctx.secrets).scrub
    if reason is None:
        ctx.facts["RESPONSE_TIME"] = duration
        outcomes = tuple(_shown(c.evaluate(ctx.facts, scrub), scrub) for c in conditions)
        first_failed = next(
            (c for c, o in zip(conditions, outcomes, strict=True) if not o.success), None
        )
        if first_failed is not None:
            reason = first_failed.reason
            message = "; ".join(o.observed for o in outcomes if not o.success)
    findings: tuple[Finding, ...] = ()
    if policies:
        view = RunView(reason is None, ctx.facts, ctx.values, ctx.info)
        findings = tuple(
            _finding(_safely(policy, view, log, ctx.shared.repeats, probe_id), scrub)
            for policy in policies
        )
    return Result(
        probe_id=probe_id,
        started=started_wall,
        duration=duration,
        success=reason is None,
        reason=reason,
        message=bounded(scrub(message)) if message else "",
        phases=tuple(ctx.phases.items()),
        values=tuple(ctx.values.items()),
        info=tuple(_details(ctx.info, scrub)),
        conditions=outcomes,
        breaches=(
            check_all(thresholds, Observed(duration, ctx.values, ctx.capacity))
            if reason is None
            else ()
        ),
        trace_id=trace_id,
        capacity=tuple(ctx.capacity),
        findings=findings,
    )


def _shown(outcome: ConditionOutcome, scrub: Callable[[str], str]) -> ConditionOutcome:
    """The outcome as outputs may show it: the condition's own text may hold a card number
    or a secret too (``[BODY.card] == 4111...``)."""
    text, observed = scrub(outcome.text), bounded(scrub(outcome.observed))
    if text == outcome.text and observed == outcome.observed:
        return outcome
    return ConditionOutcome(text, outcome.success, observed)


def _details(
    info: Mapping[Detail, str], scrub: Callable[[str], str]
) -> Iterator[tuple[Detail, str]]:
    """Details a target chose (a certificate subject, a JWT ``sub``), scrubbed and bounded."""
    for detail, text in info.items():
        yield detail, bounded(scrub(text))


def _finding(finding: Finding, scrub: Callable[[str], str]) -> Finding:
    reason, evidence = bounded(scrub(finding.reason)), bounded(scrub(finding.evidence))
    if reason == finding.reason and evidence == finding.evidence:
        return finding
    return Finding(finding.policy, finding.status, reason, evidence)


def _safely(
    policy: Policy,
    view: RunView,
    log: logging.LoggerAdapter[logging.Logger],
    repeats: Repeats,
    probe_id: str,
) -> Finding:
    """A policy that raises is our bug: logged (loudly once), reported as not applicable,
    never fatal."""
    try:
        return policy.evaluate(view)
    except Exception:
        name = getattr(policy, "name", type(policy).__name__)
        level = repeats.level((name, probe_id), logging.ERROR)
        log.log(level, "compliance policy %s raised", name, exc_info=level > logging.DEBUG)
        return Finding(name, Compliance.NOT_APPLICABLE, "the policy could not be evaluated")
