"""flow: a multi-step synthetic transaction across integrations, values carried between steps.

Each step is an HTTP request made exactly as the http kind makes it (agent/probers/
http_exchange.py), judged by its own conditions, then mined for the values later steps use.
The flow stops at the first step that fails and names it; the failure is attributed to the
integration that step calls (``Result.cause``), so the state names the real culprit. Steps
share the flow's one deadline; each has its own span, whose traceparent its request carries.
Captured values are secrets unless marked public: they join the run's redaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from agent import vocabulary as v
from agent.probers.base import ProbeContext, ProbeFailed, ProberSpec, Request, Response, StepSpan
from agent.probers.flow_model import FlowProbe, FlowStep, called, describe, problems
from agent.probers.flow_values import capture_reason, extract, render, url_forms
from agent.probers.http_exchange import exchange
from agent.redact import redact_url
from agent.results import ConditionOutcome, Labelled, Reason, StepResult

__all__ = ["SPEC", "FlowProbe", "FlowStep", "probe"]


@dataclass(slots=True)
class _Step:
    """A step as it goes: what has failed, if anything, and what it saw."""

    started: float
    reason: Reason | None = None
    message: str = ""
    requests: int = 0
    outcomes: tuple[ConditionOutcome, ...] = ()
    captured: list[tuple[str, str | None]] = field(default_factory=list)

    def fail(self, reason: Reason, message: str) -> None:
        if self.reason is None:
            self.reason, self.message = reason, message


async def probe(config: FlowProbe, ctx: ProbeContext) -> None:
    values: dict[str, str] = {}
    began = time.monotonic()
    for step in config.steps:
        await _run_step(step, ctx, values, began)


async def _run_step(
    step: FlowStep, ctx: ProbeContext, values: dict[str, str], began: float
) -> None:
    """One step, recorded in ``ctx`` whatever happens; ``ProbeFailed`` when it fails."""
    span = ctx.step_span(step.name, _attributes(step))
    sub = ProbeContext(
        deadline=ctx.deadline,
        log=ctx.log,
        shared=ctx.shared,
        trace_headers=span.headers,
        secrets=ctx.secrets,  # what a step's request carries is the flow's to scrub
    )
    state = _Step(time.monotonic())
    try:
        await _requests(step, sub, ctx, values, state)
        if state.reason is None:
            _capture(step, sub.facts, ctx, values, state)
    except ProbeFailed as failed:
        state.fail(failed.reason, failed.message)
    except asyncio.CancelledError:  # the flow's deadline: say where it struck, then go
        ctx.doing = f"step {step.name}" + (f", {next(reversed(sub.phases))}" if sub.phases else "")
        state.fail(Reason.TIMEOUT, f"no answer before the flow's deadline ({ctx.doing})")
        _record(step, ctx, sub, state, began, span)
        ctx.cause = step.integration
        raise
    outcome = _record(step, ctx, sub, state, began, span)
    if not outcome.success:
        ctx.cause = step.integration
        raise ProbeFailed(
            state.reason or Reason.INTERNAL_ERROR,
            f"step {step.name} ({step.integration}): {state.message}",
        )


async def _requests(
    step: FlowStep,
    sub: ProbeContext,
    flow: ProbeContext,
    values: Mapping[str, str],
    state: _Step,
) -> None:
    """Send the step (again while polling) until its conditions hold; the last outcome stays."""
    rendered = render(step, values)
    url = URL(rendered.url)
    most = step.poll.max_requests if step.poll is not None else 1
    while True:
        sent = time.monotonic()
        state.requests += 1
        await exchange(rendered, sub, url)
        sub.facts["RESPONSE_TIME"] = time.monotonic() - sent
        state.outcomes = tuple(c.evaluate(sub.facts) for c in step.conditions)
        failed = [
            (c, o) for c, o in zip(step.conditions, state.outcomes, strict=True) if not o.success
        ]
        if not failed:
            return
        poll = step.poll
        if poll is None or state.requests >= most or flow.remaining() <= poll.every:
            message = "; ".join(o.observed for _, o in failed)
            if state.requests > 1:
                message += f" (after {state.requests} requests)"
            state.fail(failed[0][0].reason, message)
            return
        await asyncio.sleep(poll.every)


def _capture(
    step: FlowStep,
    facts: Mapping[str, Any],
    ctx: ProbeContext,
    values: dict[str, str],
    state: _Step,
) -> None:
    for name, capture in step.capture.items():
        try:
            value = extract(capture, facts)
        except (LookupError, ValueError) as exc:
            state.fail(capture_reason(capture), f"capture {name}: {exc}")
            return
        values[name] = value
        if not capture.public:
            ctx.secrets.update(url_forms(value))  # an error may quote the URL it went to
        state.captured.append((name, value if capture.public else None))


def _record(
    step: FlowStep,
    ctx: ProbeContext,
    sub: ProbeContext,
    state: _Step,
    began: float,
    span: StepSpan,
) -> StepResult:
    """The step's StepResult, series and response into the flow's context; its span ended."""
    duration = time.monotonic() - state.started
    status = sub.facts.get("STATUS")
    outcome = StepResult(
        name=step.name,
        integration=step.integration,
        success=state.reason is None,
        started=state.started - began,
        duration=duration,
        reason=state.reason,
        message=state.message,
        status=int(status) if status is not None else None,
        requests=state.requests,
        conditions=state.outcomes,
        captured=tuple(state.captured),
    )
    ctx.steps.append(outcome)
    success = 1.0 if outcome.success else 0.0
    ctx.series.append(Labelled(v.FLOW_STEP_SUCCESS, (step.name, step.integration or ""), success))
    ctx.series.append(Labelled(v.FLOW_STEP_DURATION, (step.name,), duration))
    if status is not None:
        ctx.responses.append(Response(_request(step), sub.facts))
    span.end(outcome)
    return outcome


def _request(step: FlowStep) -> Request:
    return Request(step.method, step.url, step.name, step.integration, step.shown_headers())


def _attributes(step: FlowStep) -> dict[str, Any]:
    """A step span's attributes: its URL as configured (placeholders, not captured values)."""
    url = URL(step.url)
    attrs: dict[str, Any] = {
        "oversight.step": step.name,
        "http.request.method": step.method,
        "url.full": redact_url(step.url),
        "server.address": url.host or "",
    }
    if step.integration:
        attrs["oversight.step.integration"] = step.integration
    if url.port:
        attrs["server.port"] = url.port
    return attrs


SPEC = ProberSpec(
    kind="flow",
    model=FlowProbe,
    probe=probe,
    facts=(),
    families=(v.FLOW_STEP_SUCCESS, v.FLOW_STEP_DURATION),
    target=describe,
    signals=("latency",),
    attributes=lambda config: {"oversight.flow.steps": len(config.steps)},
    requests=lambda config: tuple(_request(step) for step in config.steps),
    calls=called,
    problems=problems,
    bind=lambda config, integration: config.bound(integration),
)
