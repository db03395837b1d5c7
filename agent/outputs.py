"""Outputs: every view of what the agent sees, behind one interface the App owns.

The Prometheus exposition, OTLP and the audit trail are outputs; the App tells each one what
happened (a result, the changes it caused, a reload, audit records written) and never which
output it is. An output that raises is logged and skipped: one broken view must not cost the
others, nor a probe run.
When a reload changes the config an output is built from, the App builds a new one in its
place (``OutputSlot``) instead of asking the user for a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agent.audit.chain import Record
from agent.evaluation.compliance import Change
from agent.evaluation.state import Transition
from agent.logs import Repeats
from agent.plan import Plan, ProbePlan
from agent.probers.base import StepTracer
from agent.results import Result

log = logging.getLogger("oversight.outputs")


class RunTrace(Protocol):
    """The trace side of one run: headers to send the target, and its span once it ends."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def trace_id(self) -> str | None: ...

    @property
    def context(self) -> Any: ...  # the kept span's context, for exemplars

    @property
    def step(self) -> StepTracer | None:
        """Starts a child span per step of a multi-step run (a flow), or None."""
        ...

    def finish(self, result: Result) -> Result:
        """End the run's span; the Result keeps its trace id only if the span is exported."""
        ...


class _NoTrace:
    headers: Mapping[str, str] = {}
    trace_id: str | None = None
    context: Any = None
    step: StepTracer | None = None

    def finish(self, result: Result) -> Result:
        return result


NO_TRACE: RunTrace = _NoTrace()


class Output(Protocol):
    """A view of the agent's results. Every method but ``stop`` runs on the event loop and
    must return quickly: I/O belongs in the output's own task or thread."""

    name: str

    def start(self) -> None: ...

    async def stop(self) -> None:
        """Flush what is owed within the output's own deadline, then let go."""
        ...

    def start_run(self, probe: ProbePlan) -> RunTrace | None:
        """A trace around the run about to start, if this output traces runs."""
        ...

    def on_result(self, probe: ProbePlan, result: Result, trace: RunTrace) -> None: ...

    def on_changes(self, transitions: Sequence[Transition], changes: Sequence[Change]) -> None:
        """State and compliance changes, from a result or from a sweep."""
        ...

    def on_reload(self, old: Plan, new: Plan) -> None: ...

    def on_audit(self, records: Sequence[Record]) -> None:
        """Audit records just written (and fsynced) to the local trail, to ship elsewhere."""
        ...

    def on_reload_failed(self, source: str, problems: int) -> None: ...

    def failures(self) -> Mapping[tuple[str, str], int]:
        """What this output failed to deliver since it started, by (exporter, signal)."""
        ...

    def dropped(self) -> Mapping[tuple[str, str], int]:
        """Items it dropped before delivering them (a full queue), by (exporter, signal)."""
        ...


class BaseOutput:
    """No-op defaults, so an output writes only the methods it cares about."""

    name = "output"

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def start_run(self, probe: ProbePlan) -> RunTrace | None:
        return None

    def on_result(self, probe: ProbePlan, result: Result, trace: RunTrace) -> None:
        return None

    def on_changes(self, transitions: Sequence[Transition], changes: Sequence[Change]) -> None:
        return None

    def on_reload(self, old: Plan, new: Plan) -> None:
        return None

    def on_audit(self, records: Sequence[Record]) -> None:
        return None

    def on_reload_failed(self, source: str, problems: int) -> None:
        return None

    def failures(self) -> Mapping[tuple[str, str], int]:
        return {}

    def dropped(self) -> Mapping[tuple[str, str], int]:
        return {}


@dataclass
class OutputSlot:
    """One output and how it is made: a reload that changes ``config(plan)`` rebuilds it."""

    config: Callable[[Plan], object]
    build: Callable[[Plan], Output | None]
    output: Output | None = None


def each(
    outputs: Sequence[Output],
    call: Callable[[Output], object],
    what: str,
    repeats: Repeats | None = None,
) -> None:
    """``call`` on every output; one that raises is logged and the others still hear. With
    ``repeats``, an output that fails on every result says so loudly once, then at debug."""
    for output in outputs:
        try:
            call(output)
        except Exception:
            loud = logging.ERROR
            level = loud if repeats is None else repeats.level((output.name, what), loud)
            log.log(
                level,
                "output %s failed on %s; the other outputs carry on",
                output.name,
                what,
                exc_info=level > logging.DEBUG,
            )
