"""Retries: more attempts after a failure, all inside the probe's one timeout, counted."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agent.conditions.parser import compile_condition
from agent.probers import REGISTRY
from agent.probers.base import ProbeContext, ProbeFailed
from agent.results import Reason
from agent.runner import execute
from tests.agent.test_runner import Empty, answers_503, hangs, spec_of
from tests.peers.http_servers import serve


def failing(times: int) -> tuple[Callable[[Empty, ProbeContext], Awaitable[None]], list[float]]:
    """A prober that refuses ``times`` times, then answers; and when each attempt began."""
    began: list[float] = []

    async def probe(config: Empty, ctx: ProbeContext) -> None:
        began.append(time.monotonic())
        if len(began) <= times:
            raise ProbeFailed(Reason.CONNECT_REFUSED, f"refused (attempt {len(began)})")
        ctx.facts["STATUS"] = 200

    return probe, began


async def test_a_retry_that_succeeds_makes_a_successful_run_with_its_attempts() -> None:
    probe, began = failing(2)
    result = await execute(
        spec_of(probe), Empty(), probe_id="p/i/x", timeout=2, retries=3, backoff=0.05
    )
    assert (result.success, result.attempts) == (True, 3)
    pauses = [b - a for a, b in itertools.pairwise(began)]
    assert pauses[0] >= 0.05 and pauses[1] >= 0.1  # the backoff doubles
    assert result.duration >= 0.15  # the run covers every attempt


async def test_when_every_attempt_fails_the_last_one_speaks() -> None:
    probe, _ = failing(10)
    result = await execute(
        spec_of(probe), Empty(), probe_id="p/i/x", timeout=2, retries=2, backoff=0
    )
    assert (result.success, result.attempts) == (False, 3)
    assert (result.reason, result.message) == (Reason.CONNECT_REFUSED, "refused (attempt 3)")


async def test_a_failed_condition_is_retried_too() -> None:
    spec = spec_of(answers_503)
    conditions = [compile_condition("[STATUS] == 200", spec.fact_table())]
    result = await execute(
        spec, Empty(), probe_id="p/i/x", timeout=1, conditions=conditions, retries=1, backoff=0
    )
    assert (result.reason, result.attempts) == (Reason.STATUS_MISMATCH, 2)


async def test_a_timeout_is_not_retried_the_deadline_is_spent() -> None:
    result = await execute(spec_of(hangs), Empty(), probe_id="p/i/x", timeout=0.3, retries=3)
    assert (result.reason, result.attempts) == (Reason.TIMEOUT, 1)


async def test_no_retry_starts_whose_pause_would_outlast_the_deadline() -> None:
    probe, began = failing(10)
    started = time.monotonic()
    result = await execute(
        spec_of(probe), Empty(), probe_id="p/i/x", timeout=0.5, retries=5, backoff=0.2
    )
    assert time.monotonic() - started < 0.5
    assert result.attempts == len(began) == 2  # 0.2 s, then 0.4 s would not fit
    assert result.reason is Reason.CONNECT_REFUSED


async def test_a_flaky_http_target_through_the_real_kind() -> None:
    answers = iter([503, 502, 200])

    async def flaky(_: web.Request) -> web.Response:
        return web.Response(status=next(answers))

    app = web.Application()
    app.router.add_get("/", flaky)
    spec = REGISTRY["http"]
    async with serve(app) as peer:
        settings: Any = spec.model.model_validate({"url": peer.url("/")})
        conditions = [compile_condition(c, spec.fact_table()) for c in spec.default_conditions]
        result = await execute(
            spec,
            settings,
            probe_id="p/i/x",
            timeout=2,
            conditions=conditions,
            retries=2,
            backoff=0.01,
        )
    assert (result.success, result.attempts) == (True, 3)


async def test_each_attempt_starts_afresh_but_secrets_of_every_attempt_are_scrubbed() -> None:
    seen: list[int] = []

    async def probe(config: Empty, ctx: ProbeContext) -> None:
        seen.append(len(ctx.phases))
        with ctx.phase("connect"):
            await asyncio.sleep(0)
        ctx.secrets.add(f"secret-of-attempt-{len(seen)}")
        raise ProbeFailed(Reason.STATUS_MISMATCH, "saw secret-of-attempt-1 and secret-of-attempt-2")

    result = await execute(spec_of(probe), Empty(), probe_id="p/i/x", timeout=1, retries=1)
    assert seen == [0, 0]
    assert result.message == "saw <redacted> and <redacted>"
    assert [name for name, _ in result.phases] == ["connect"]


def test_retries_are_per_probe_settings_of_every_kind() -> None:
    from agent.config import load_config_text
    from agent.planning import build_plan

    text = """\
patterns:
  p:
    integrations:
      i:
        scope: internal
        probes:
          port: {retries: 2, retry_backoff: 100ms, tcp: {address: "127.0.0.1:1"}}
          health: {http: {url: "http://127.0.0.1:1/"}}
"""
    plan = build_plan(load_config_text(text))
    port, health = plan.probes["p/i/port"], plan.probes["p/i/health"]
    assert (port.retries, port.retry_backoff) == (2, 0.1)
    assert (health.retries, health.retry_backoff) == (0, 0.25)
