"""Run one probe under one overall deadline and turn whatever happens into a Result.

The deadline covers DNS, connect, TLS and body together: per-read timeouts do not stop a
server that trickles a byte a second. A target's fault arrives as ``ProbeFailed``; anything
else is our bug, reported as ``internal_error`` and logged with its traceback (the first time;
a bug that recurs every run is then logged at debug). Nothing a target does escapes this
function. Retries, when a probe has them, happen inside the same deadline: a run is one run
however many attempts it took.

Every text of the Result (message, condition outcomes, details, steps, findings) is built here
and only here: scrubbed of the agent's secrets, the run's own credentials and card numbers,
then bounded to one escaped line of a few hundred characters (agent/text.py), so no output can
leak what a target echoed or be flooded by what it sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from agent.conditions.evaluate import Condition
from agent.logs import Repeats
from agent.plan import Plan, ProbePlan
from agent.policies.base import Policy, RunView
from agent.probers import REGISTRY
from agent.probers.base import ProbeContext, ProbeFailed, ProberSpec, Response, StepTracer
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
    tracer: StepTracer | None = None,
    redactor: Redactor | None = None,
) -> Result:
    """One run of a planned probe as the agent makes it: its kind, deadline, retries,
    conditions, thresholds and policies. Never raises for a target's fault. ``redactor``
    holds the agent's known secrets."""
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
        retries=probe.retries,
        backoff=probe.retry_backoff,
        tracer=tracer,
        integration=probe.integration_key,
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


@dataclasses.dataclass(slots=True)
class _Attempt:
    ctx: ProbeContext
    reason: Reason | None = None
    message: str = ""
    outcomes: tuple[ConditionOutcome, ...] = ()


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
    retries: int = 0,
    backoff: float = 0.0,
    tracer: StepTracer | None = None,
    integration: str | None = None,
    redactor: Redactor | None = None,
) -> Result:
    """Run ``kind.probe`` (again after a failure, up to ``retries`` more times, waiting
    ``backoff`` seconds doubled at each retry); always returns within ``timeout`` plus
    scheduling slack. A retry starts only if its pause ends before the deadline.

    ``integration`` is the probe's own (pattern/name): findings and a failure's cause name
    another integration only when a step of the run called another one.
    """
    log = log or logging.LoggerAdapter(logging.getLogger("oversight.probe"), {"probe": probe_id})
    started_wall = time.time()
    started = time.monotonic()
    shared = shared or Shared()
    secrets: set[str] = set()
    attempts = 0
    while True:
        attempts += 1
        ctx = ProbeContext(
            deadline=started + timeout,
            log=log,
            shared=shared,
            trace_headers=trace_headers or {},
            tracer=tracer,
        )
        attempt = await _attempt(
            kind, config, ctx, conditions, timeout, probe_id, redactor or Redactor(), secrets
        )
        secrets |= ctx.secrets
        if attempt.reason in (None, Reason.TIMEOUT) or attempts > retries:
            break
        pause = backoff * 2 ** (attempts - 1)
        if ctx.remaining() <= pause:
            break
        log.debug("probe %s attempt %d failed (%s); retrying", probe_id, attempts, attempt.reason)
        await asyncio.sleep(pause)
    duration = time.monotonic() - started
    reason, scrub = attempt.reason, (redactor or Redactor()).with_secrets(secrets).scrub
    findings: tuple[Finding, ...] = ()
    if policies:
        responses = _responses(kind, config, ctx)
        view = RunView(reason is None, ctx.facts, ctx.values, ctx.info, responses)
        findings = _judge(policies, view, log, integration, ctx.shared.repeats, probe_id)
    result = Result(
        probe_id=probe_id,
        started=started_wall,
        duration=duration,
        success=reason is None,
        reason=reason,
        message=attempt.message if reason is not None else ctx.message,
        phases=tuple(ctx.phases.items()),
        values=tuple(ctx.values.items()),
        info=tuple(ctx.info.items()),
        conditions=attempt.outcomes,
        breaches=(
            (*ctx.breaches, *check_all(thresholds, Observed(duration, ctx.values, ctx.capacity)))
            if reason is None
            else ()
        ),
        trace_id=trace_id,
        capacity=tuple(ctx.capacity),
        findings=findings,
        attempts=attempts,
        steps=tuple(ctx.steps),
        series=tuple(ctx.series),
        cause=ctx.cause if reason is not None and ctx.cause != integration else None,
    )
    return _scrubbed(result, scrub)


async def _attempt(
    kind: ProberSpec,
    config: Any,
    ctx: ProbeContext,
    conditions: Sequence[Condition],
    timeout: float,
    probe_id: str,
    redactor: Redactor,
    secrets: set[str],
) -> _Attempt:
    """One call of the prober within what is left of the deadline, conditions evaluated (what
    they observed scrubbed before it is cut, so a secret is never left half masked)."""
    attempt = _Attempt(ctx)
    began = time.monotonic()
    try:
        async with asyncio.timeout(max(0.0, ctx.deadline - began)):
            await kind.probe(config, ctx)
    except TimeoutError:
        attempt.reason, attempt.message = Reason.TIMEOUT, f"no answer within {timeout:g}s"
        doing = ctx.doing or (next(reversed(ctx.phases)) if ctx.phases else "")
        if doing:
            attempt.message += f" (during {doing})"
    except ProbeFailed as failed:
        attempt.reason, attempt.message = failed.reason, failed.message
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        level = ctx.shared.repeats.level((probe_id, type(exc).__name__), logging.ERROR)
        ctx.log.log(
            level,
            "probe %s raised; reported as internal_error%s",
            probe_id,
            " (the same again is logged at debug)" if level > logging.DEBUG else " again",
            exc_info=level > logging.DEBUG,
        )
        attempt.reason, attempt.message = Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"
    if attempt.reason is None:
        ctx.facts["RESPONSE_TIME"] = time.monotonic() - began
        scrub = redactor.with_secrets(secrets | ctx.secrets).scrub  # what the run learned too
        attempt.outcomes = tuple(_shown(c.evaluate(ctx.facts, scrub), scrub) for c in conditions)
        first_failed = next(
            (c for c, o in zip(conditions, attempt.outcomes, strict=True) if not o.success), None
        )
        if first_failed is not None:
            attempt.reason = first_failed.reason
            attempt.message = "; ".join(o.observed for o in attempt.outcomes if not o.success)
    return attempt


def _responses(kind: ProberSpec, config: Any, ctx: ProbeContext) -> tuple[Response, ...]:
    """What the run received: a flow's answers, or the one answer in the run's facts."""
    if ctx.responses:
        return tuple(ctx.responses)
    return (Response(kind.request(config), ctx.facts),)


def _judge(
    policies: Sequence[Policy],
    view: RunView,
    log: logging.LoggerAdapter[logging.Logger],
    integration: str | None,
    repeats: Repeats,
    probe_id: str,
) -> tuple[Finding, ...]:
    """Each policy over the run; a run whose answers came from several integrations (a flow
    calling them) is judged once per integration, each finding saying which it is about."""
    groups: dict[str | None, list[Response]] = {}
    for response in view.responses:
        subject = response.request.integration if response.request is not None else None
        subject = None if subject == integration else subject
        groups.setdefault(subject, []).append(response)
    if list(groups) in ([], [None]):
        return tuple(_safely(policy, view, log, repeats, probe_id) for policy in policies)
    findings = []
    for subject, responses in groups.items():
        part = dataclasses.replace(view, responses=tuple(responses))
        for policy in policies:
            finding = _safely(policy, part, log, repeats, probe_id)
            if subject is not None:
                finding = dataclasses.replace(finding, subject=subject)
            findings.append(finding)
    return tuple(findings)


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


def _scrubbed(result: Result, scrub: Callable[[str], str]) -> Result:
    """The Result with the run's secrets and card numbers masked in every text it carries,
    each bounded (condition outcomes were already shown so as they were evaluated). The same
    Result when nothing needed it, as for most successful runs."""

    def clean(text: str) -> str:
        return bounded(scrub(text)) if text else ""

    message = clean(result.message)
    info = tuple(_details(dict(result.info), scrub)) if result.info else ()
    steps = tuple(
        dataclasses.replace(
            s,
            message=clean(s.message),
            conditions=tuple(_shown(o, scrub) for o in s.conditions),
        )
        for s in result.steps
    )
    findings = tuple(_finding(f, clean) for f in result.findings)
    if (message, info, steps, findings) == (
        result.message,
        result.info,
        result.steps,
        result.findings,
    ):
        return result
    return dataclasses.replace(result, message=message, info=info, steps=steps, findings=findings)


def _finding(finding: Finding, clean: Callable[[str], str]) -> Finding:
    reason, evidence = clean(finding.reason), clean(finding.evidence)
    if reason == finding.reason and evidence == finding.evidence:
        return finding
    return dataclasses.replace(finding, reason=reason, evidence=evidence)
