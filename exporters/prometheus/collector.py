"""The Prometheus view: every family the agent exports, built from the snapshot into a ``Sink``.

The samples are built entity by entity (a probe's settings, a probe's latest run, an
integration's settings, its state, the agent, the patterns), so the /metrics renderer can keep
what it wrote for each and redo only what a new result changed. Two sinks exist:
prometheus_client's families (``collect``, for the OTLP mirror and the tests) and the text
renderer of exporters/prometheus/exposition.py; both take the same ``add`` calls.

What a probe and an integration cost in series is in docs/metrics.md ("Series budget"); a test holds
the agent to it.
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Exemplar

from agent import __version__
from agent import vocabulary as n
from agent.evaluation.state import IntegrationStatus
from agent.plan import IntegrationPlan, ProbePlan
from agent.probers import REGISTRY
from agent.results import Result
from agent.snapshot import Snapshot
from agent.store import ProbeTotals
from agent.vocabulary import DURATION_BUCKETS, LAG_BUCKETS, Family

Bucket = tuple[str, float] | tuple[str, float, Exemplar]  # le, cumulative count[, exemplar]
_SEVERITIES = ("warning", "critical")


class Sink(Protocol):
    """Where the collector puts each sample: ``labels`` are the family's label values in order
    (without the constant labels); a histogram's ``value`` is its sum."""

    def add(
        self,
        family: Family,
        labels: tuple[str, ...],
        value: float,
        buckets: Sequence[Bucket] | None = None,
    ) -> None: ...


_KINDS = {
    "gauge": GaugeMetricFamily,
    "counter": CounterMetricFamily,
    "histogram": HistogramMetricFamily,
}


class _Families:
    """Families of one scrape, created on first use so an unused family is not rendered empty."""

    def __init__(self, const_names: Sequence[str], const_values: Sequence[str]) -> None:
        self._const_names = tuple(const_names)
        self._const_values = tuple(const_values)
        self._families: dict[str, Any] = {}

    def add(
        self,
        family: Family,
        labels: tuple[str, ...],
        value: float,
        buckets: Sequence[Bucket] | None = None,
    ) -> None:
        metric = self._families.get(family.name)
        if metric is None:
            metric = self._families[family.name] = _KINDS[family.type](
                family.name, family.help, labels=family.labels + self._const_names
            )
        values = (*labels, *self._const_values)
        if family.type == "histogram":
            metric.add_metric(values, buckets, value)
        else:
            metric.add_metric(values, value)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


def cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[Bucket]:
    total, out = 0, list[Bucket]()
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
    return out


def probe_settings(probe: ProbePlan, out: Sink) -> None:
    """What a probe is: the same until the plan changes."""
    labels = probe.labels
    out.add(n.PROBE_INFO, (*labels, probe.kind, probe.target, f"{probe.interval:g}"), 1)
    for rule in probe.thresholds:
        family = rule.signal.family
        for severity, level in zip(_SEVERITIES, (rule.warning, rule.critical), strict=True):
            if level is not None and family is not None:
                out.add(family, (*labels, severity), level)


def probe_run(
    probe: ProbePlan, result: Result | None, totals: ProbeTotals | None, out: Sink
) -> None:
    """What a probe saw: its latest result and its totals (nothing before its first run)."""
    if totals is None or result is None:
        return
    labels = probe.labels
    out.add(n.PROBE_RUNS, labels, totals.runs)
    for reason, count in totals.failures.items():
        out.add(n.PROBE_FAILURES, (*labels, reason.value), count)
    for step, count in totals.step_failures.items():
        out.add(n.FLOW_STEP_FAILURES, (*labels, step), count)
    if totals.bucket_counts is not None:
        out.add(
            n.PROBE_DURATION_HISTOGRAM,
            labels,
            totals.duration_sum,
            buckets=_with_exemplar(cumulative(DURATION_BUCKETS, totals.bucket_counts), totals),
        )
    out.add(n.PROBE_SUCCESS, labels, 1.0 if result.success else 0.0)
    out.add(n.PROBE_DURATION, labels, result.duration)
    phases = REGISTRY[probe.kind].phase_family
    for phase, seconds in result.phases:
        if phase == "resolve" and phases is n.PROBE_PHASES:  # http's phases hold it already
            out.add(n.PROBE_DNS_LOOKUP, labels, seconds)
        out.add(phases, (*labels, phase), seconds)
    for family, value in result.values:
        out.add(family, labels, value)
    for item in result.series:  # families with labels of their own (a flow's steps)
        out.add(item.family, (*labels, *item.labels), item.value)
    if probe.retries:
        out.add(n.PROBE_ATTEMPTS, labels, result.attempts)
    for capacity in result.capacity:
        unit_labels = (*labels, capacity.resource, capacity.unit)
        if capacity.used is not None:
            out.add(n.CAPACITY_USED, unit_labels, capacity.used)
        if capacity.limit is not None:
            out.add(n.CAPACITY_LIMIT, unit_labels, capacity.limit)
        if (ratio := capacity.utilisation) is not None:
            out.add(n.CAPACITY_UTILISATION, (*labels, capacity.resource), ratio)
    if result.info:
        info = dict(result.info)
        for family in n.INFO_FAMILIES:
            if family.details[0] in info:
                details = tuple(info.get(d, "") for d in family.details)
                out.add(family, (*labels, *details), 1)


def _with_exemplar(buckets: list[Bucket], totals: ProbeTotals) -> list[Bucket]:
    """The last exported run's trace on the bucket its duration fell in."""
    if totals.exemplar is None:
        return buckets
    trace_id, value, at = totals.exemplar
    index = next(
        i for i, bucket in enumerate(buckets) if bucket[0] == "+Inf" or value <= float(bucket[0])
    )
    le, count = buckets[index][:2]
    buckets[index] = (le, count, Exemplar({"trace_id": trace_id}, value, at))
    return buckets


def integration_settings(integration: IntegrationPlan, out: Sink) -> None:
    labels = (integration.pattern, integration.name, integration.scope)
    out.add(
        n.INTEGRATION_INFO,
        (*labels, integration.criticality, integration.owner, integration.runbook),
        1,
    )
    out.add(n.INTEGRATION_OBJECTIVE, (*labels, "availability"), integration.availability_objective)
    for dependency in integration.depends_on:
        out.add(n.INTEGRATION_DEPENDS_ON, (*labels, dependency), 1)


def integration_state(
    integration: IntegrationPlan,
    status: IntegrationStatus | None,
    failing: Sequence[str],
    out: Sink,
) -> None:
    """The current state (one series), since when, flapping, and the policies it fails."""
    labels = (integration.pattern, integration.name, integration.scope)
    if status is None:
        out.add(n.INTEGRATION_STATE, (*labels, "unknown", ""), 1)
    else:
        out.add(n.INTEGRATION_STATE, (*labels, status.state.value, status.root_cause or ""), 1)
        out.add(n.INTEGRATION_STATE_SINCE, labels, status.since)
        out.add(n.INTEGRATION_FLAPPING, labels, 1.0 if status.flapping else 0.0)
    for policy in failing:
        out.add(n.COMPLIANCE_FAILING, (*labels, policy), 1)


def agent_health(snap: Snapshot, out: Sink) -> None:
    health = snap.agent
    shard = snap.plan.shard
    out.add(n.BUILD_INFO, (__version__, platform.python_version(), str(shard or "")), 1)
    out.add(n.AGENT_READY, (), 1.0 if health.ready else 0.0)
    out.add(n.RELOAD_SUCCESSFUL, (), 1.0 if health.reload_successful else 0.0)
    out.add(n.RELOAD_SUCCESS_TIME, (), health.last_reload_success)
    stats = health.scheduler
    out.add(n.SCHEDULER_LAG, (), stats.lag_sum, buckets=cumulative(LAG_BUCKETS, stats.lag_counts))
    lag = health.loop_lag
    out.add(n.EVENT_LOOP_LAG, (), lag.total, buckets=cumulative(LAG_BUCKETS, lag.counts))
    for reason, count in stats.skipped.items():
        out.add(n.SCHEDULER_SKIPPED, (reason,), count)
    out.add(n.PROBES_IN_FLIGHT, (), stats.in_flight)
    for (exporter, signal), count in sorted(health.export_failures.items()):
        out.add(n.EXPORT_FAILURES, (exporter, signal), count)
    for (exporter, signal), count in sorted(health.export_dropped.items()):
        out.add(n.EXPORT_DROPPED, (exporter, signal), count)
    for kind, count in sorted(snap.plan.kinds.items()):
        out.add(n.PROBES_CONFIGURED, (kind,), count)


def patterns(snap: Snapshot, out: Sink) -> None:
    """Compliance counts and scores per pattern and overall, and the audit trail's counters."""
    view = snap.compliance
    if view is not None and view.enabled:
        for pattern in snap.plan.pattern_owners:
            score = view.score(pattern)
            for status, count in (
                ("pass", score.passed),
                ("fail", score.failed),
                ("not_applicable", score.not_applicable),
            ):
                out.add(n.COMPLIANCE_CHECKS, (pattern, status), count)
            if score.ratio is not None:
                out.add(n.COMPLIANCE_SCORE, (pattern,), score.ratio)
        overall = view.score().ratio
        if overall is not None:
            out.add(n.COMPLIANCE_OVERALL_SCORE, (), overall)
    audit = snap.audit
    if audit is not None:
        for kind, count in sorted(audit.events.items()):
            out.add(n.AUDIT_EVENTS, (kind,), count)
        out.add(n.AUDIT_WRITE_FAILURES, (), audit.write_failures)
        out.add(n.AUDIT_PENDING, (), audit.pending)
        out.add(n.AUDIT_LAST_WRITE, (), audit.last_success)


def failing(snap: Snapshot, key: str) -> tuple[str, ...]:
    view = snap.compliance
    return view.failing(key) if view is not None and view.enabled else ()


class SnapshotCollector:
    """A prometheus_client collector over ``snapshot()``; register it on a fresh registry."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        return []  # built at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        out, making = self._families()
        for _ in making:
            pass
        yield from out

    async def collect_stepped(self) -> list[Metric]:
        """``collect`` in steps of a few hundred probes or integrations, letting probes run
        in between: on the event loop, at 10,000 integrations, the whole view at once would
        hold it for the better part of a second."""
        out, making = self._families()
        for _ in making:
            await asyncio.sleep(0)
        return list(out)

    def _families(self) -> tuple[_Families, Iterator[None]]:
        snap = self._snapshot()
        const = snap.plan.const_labels
        out = _Families([k for k, _ in const], [v for _, v in const])
        return out, steps(snap, out)


def steps(snap: Snapshot, out: Sink, size: int = 256) -> Iterator[None]:
    """Every family of ``snap`` into ``out``, yielding every ``size`` probes or integrations so
    a caller on the event loop can let probes run in between. A new family goes in here."""
    for index, probe in enumerate(snap.plan.probes.values(), 1):
        probe_settings(probe, out)
        probe_run(probe, snap.latest.get(probe.id), snap.totals.get(probe.id), out)
        if index % size == 0:
            yield
    for index, (key, integration) in enumerate(snap.plan.integrations.items(), 1):
        integration_settings(integration, out)
        integration_state(integration, snap.states.get(key), failing(snap, key), out)
        if index % size == 0:
            yield
    agent_health(snap, out)
    patterns(snap, out)
    yield
