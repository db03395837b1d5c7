"""Run a prober the way the agent does: through the runner, with conditions and a deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from agent.conditions.parser import compile_condition
from agent.probers import REGISTRY
from agent.probers.shared import Shared
from agent.results import Result
from agent.runner import execute

RunProbe = Callable[..., Awaitable[Result]]


@pytest.fixture
async def shared() -> AsyncIterator[Shared]:
    shared = Shared()
    yield shared
    await shared.close()


@pytest.fixture
def run_probe(shared: Shared) -> RunProbe:
    """``await run_probe("http", {"url": ...}, conditions=[...], timeout=2)`` -> Result."""

    async def run(
        kind: str,
        settings: dict[str, Any],
        *,
        conditions: Sequence[str] | None = None,
        timeout: float = 5.0,
        trace_headers: dict[str, str] | None = None,
    ) -> Result:
        spec = REGISTRY[kind]
        config = spec.model.model_validate(settings)
        table = spec.fact_table()
        texts = spec.default_conditions if conditions is None else conditions
        compiled = [compile_condition(text, table) for text in texts]
        return await execute(
            spec,
            config,
            probe_id=f"test/{kind}",
            timeout=timeout,
            conditions=compiled,
            shared=shared,
            trace_headers=trace_headers,
        )

    return run
