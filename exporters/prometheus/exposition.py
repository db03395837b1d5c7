"""/metrics as text, kept entity by entity so a scrape mostly joins what it wrote before.

Each probe's settings, each probe's latest run, each integration's settings and each
integration's state is an entity: its lines are written when it changes (a new result, a new
status, a new plan) and kept until then, so a scrape re-renders only what changed since the
last one and joins the rest, family by family. The lines come from the same ``add`` calls the
prometheus_client collector takes (exporters/prometheus/collector.py), written at once instead
of through a Sample per series; the text equals prometheus_client's encoders' line for line in
the text format 0.0.4 and in OpenMetrics 1.0 with exemplars (tests/exporters/prometheus). A
sample line reads the same in both formats; only the headers and a histogram's exemplars
differ, and those are kept per format.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.utils import floatToGoString

from agent.plan import Plan, ProbePlan
from agent.results import Result
from agent.snapshot import Snapshot
from agent.store import ProbeTotals
from agent.vocabulary import INTEGRATION_LABELS, PROBE_LABELS, Family
from exporters.prometheus import collector as c
from exporters.prometheus.collector import Bucket

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"
STEP = 256  # entities rendered between two yields to the event loop (a few ms)
_OWN_CACHE = 4096  # label texts kept per family; targets and the like are unique per probe
_COMMON: dict[float, str] = {0.0: "0.0", 1.0: "1.0"}


def number(value: float) -> str:
    """The value as prometheus_client writes it (Go's float format), fast for the usual."""
    if value.__class__ is int and -1_000_000 < value < 1_000_000:
        return f"{value}.0"
    value = float(value)
    if -1e6 < value < 1e6:
        return repr(value)
    return floatToGoString(value)


def escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _help(family: Family, openmetrics: bool) -> str:
    name = family.name if openmetrics or family.type != "counter" else family.name + "_total"
    doc = family.help.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        doc = doc.replace('"', r"\"")
    return f"# HELP {name} {doc}\n# TYPE {name} {family.type}\n"


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one family's lines are written: the sample name, how many leading label values
    are a probe's or an integration's (their text is cached), and the names after them."""

    sample: str
    headers: tuple[str, str]  # text format, OpenMetrics
    base: int
    extra: tuple[str, ...]  # ',name="' of each label after the base
    histogram: bool
    own: dict[Any, str]  # the text of the labels after the base, by their values (bounded)


def _shape(family: Family) -> _Shape:
    labels = family.labels
    base = 0
    if labels[: len(PROBE_LABELS)] == PROBE_LABELS:
        base = len(PROBE_LABELS)
    elif labels[: len(INTEGRATION_LABELS)] == INTEGRATION_LABELS:
        base = len(INTEGRATION_LABELS)
    sample = family.name + "_total" if family.type == "counter" else family.name
    return _Shape(
        sample,
        (_help(family, False), _help(family, True)),
        base,
        tuple(f',{name}="' for name in labels[base:]),
        family.type == "histogram",
        {},
    )


class _Block:
    """The lines one entity writes, by family (a histogram's in both formats)."""

    __slots__ = ("exposition", "lines", "openmetrics", "shapes")

    def __init__(self, exposition: Exposition) -> None:
        self.exposition = exposition
        self.lines: dict[str, list[str]] = {}
        self.openmetrics: dict[str, list[str]] = {}
        self.shapes: dict[str, _Shape] = {}

    def add(
        self,
        family: Family,
        labels: tuple[str, ...],
        value: float,
        buckets: Sequence[Bucket] | None = None,
    ) -> None:
        exposition = self.exposition
        shape = exposition.shape(family)
        base = shape.base
        if base:
            key = labels if len(labels) == base else labels[:base]
            text = exposition.bases.get(key) or exposition.base_text(key, base)
        else:
            text = ""
        extra = shape.extra
        if extra:
            values = labels[base] if len(extra) == 1 else labels[base:]
            own = shape.own.get(values)
            if own is None:
                own = "".join(f'{e}{escape(v)}"' for e, v in zip(extra, labels[base:], strict=True))
                if len(shape.own) < _OWN_CACHE:  # phases, states, policies: a few values each
                    shape.own[values] = own
            text = f"{text}{own}" if text else own[1:]
        const = exposition.const
        if const:
            text = f"{text},{const}" if text else const
        lines = self.lines.get(family.name)
        if lines is None:
            lines = self.lines[family.name] = []
            self.shapes[family.name] = shape
        if shape.histogram:
            om = self.openmetrics.setdefault(family.name, [])
            _histogram(shape.sample, text, value, buckets or (), lines, om)
        elif text:
            lines.append(f"{shape.sample}{{{text}}} {_COMMON.get(value) or number(value)}\n")
        else:
            lines.append(f"{shape.sample} {number(value)}\n")


def _histogram(
    name: str,
    text: str,
    total: float,
    buckets: Sequence[Bucket],
    lines: list[str],
    openmetrics: list[str],
) -> None:
    prefix = f"{name}_bucket{{{text}," if text else f"{name}_bucket{{"
    labels = f"{{{text}}}" if text else ""
    for bucket in buckets:
        line = f'{prefix}le="{bucket[0]}"}} {number(bucket[1])}'
        lines.append(line + "\n")
        openmetrics.append(line + (_exemplar(bucket[2]) if len(bucket) > 2 else "") + "\n")
    tail = f"{name}_count{labels} {number(buckets[-1][1])}\n{name}_sum{labels} {number(total)}\n"
    lines.append(tail)
    openmetrics.append(tail)


def _exemplar(exemplar: Any) -> str:
    labels = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(exemplar.labels.items()))
    text = f" # {{{labels}}} {number(exemplar.value)}"
    return text if exemplar.timestamp is None else f"{text} {exemplar.timestamp}"


class Exposition:
    """Renders snapshots as text, keeping each entity's lines until it changes.

    One per listener. Not thread-safe: the agent renders on its event loop. Memory: the text
    of one scrape, held between scrapes instead of built anew.
    """

    def __init__(self) -> None:
        self.bases: dict[tuple[str, ...], str] = {}
        self.const = ""
        self._shapes: dict[Family, _Shape] = {}
        self._order: dict[str, _Shape] = {}  # family name -> shape, in first-written order
        self._text: dict[str, dict[str, str]] = {}  # family -> entity -> its lines
        self._om: dict[str, dict[str, str]] = {}  # histograms' lines with exemplars
        self._written: dict[str, tuple[str, ...]] = {}  # entity -> the families it wrote
        self._tokens: dict[str, Any] = {}  # entity -> what its lines were written from
        self._plan: Plan | None = None

    def shape(self, family: Family) -> _Shape:
        shape = self._shapes.get(family)
        if shape is None:
            shape = self._shapes[family] = _shape(family)
        return shape

    def base_text(self, key: tuple[str, ...], size: int) -> str:
        names = PROBE_LABELS if size == len(PROBE_LABELS) else INTEGRATION_LABELS
        text = ",".join(f'{k}="{escape(v)}"' for k, v in zip(names, key, strict=True))
        self.bases[key] = text
        return text

    def ran(self, probe: ProbePlan, result: Result, totals: ProbeTotals | None) -> None:
        """Write a probe's lines as its result arrives, so a scrape finds them written (its
        settings' lines are written at the first scrape of a plan)."""
        if self._plan is not None and self._plan.probes.get(probe.id) is probe:
            runs = totals.runs if totals is not None else 0
            self._entity(
                "r " + probe.id, (probe, result, runs), None, c.probe_run, probe, result, totals
            )

    def refresh(self, snap: Snapshot) -> Iterator[None]:
        """Re-render every entity whose source changed since the last scrape, yielding every
        ``STEP`` of them. A new plan drops the label texts and the entities it no longer has;
        between plans a probe's lines are written as its results arrive (``ran``), so only
        integrations, the agent and the patterns are looked at."""
        replanned = snap.plan is not self._plan
        if replanned:
            self._plan, self.bases = snap.plan, {}
            const = ",".join(f'{k}="{escape(v)}"' for k, v in snap.plan.const_labels)
            if const != self.const:  # every line carries them: write everything again
                self.const = const
                self._tokens.clear()
        seen: set[str] = set()
        rendered = 0
        render = self._entity
        for probe in snap.plan.probes.values() if replanned else ():
            result, totals = snap.latest.get(probe.id), snap.totals.get(probe.id)
            runs = totals.runs if totals is not None else 0
            rendered += render("s " + probe.id, (probe,), seen, c.probe_settings, probe)
            rendered += render(
                "r " + probe.id, (probe, result, runs), seen, c.probe_run, probe, result, totals
            )
            if rendered >= STEP:
                rendered = 0
                yield
        for key, integration in snap.plan.integrations.items():
            status, failing = snap.states.get(key), c.failing(snap, key)
            rendered += render(
                "S " + key, (integration,), seen, c.integration_settings, integration
            )
            rendered += render(
                "I " + key,
                (integration, status, failing),
                seen,
                c.integration_state,
                integration,
                status,
                failing,
            )
            if rendered >= STEP:
                rendered = 0
                yield
        render("agent", None, seen, c.agent_health, snap)
        render("patterns", None, seen, c.patterns, snap)
        if replanned:
            for entity in [e for e in self._written if e not in seen]:
                self._drop(entity, self._written.pop(entity))
                self._tokens.pop(entity, None)

    def _entity(
        self,
        entity: str,
        token: tuple[Any, ...] | None,
        seen: set[str] | None,
        write: Callable[..., None],
        *args: Any,
    ) -> int:
        """``write(*args, out)`` the entity's lines, unless its token holds the same objects
        they were written from (results, statuses and plans are immutable); returns how many
        entities were rendered (0 or 1). A None token renders every time."""
        if seen is not None:
            seen.add(entity)
        old = self._tokens.get(entity)
        if token is not None and old is not None and _same(old, token):
            return 0
        block = _Block(self)
        write(*args, block)
        written = tuple(block.lines)
        for name, lines in block.lines.items():
            if name not in self._order:
                self._order[name] = block.shapes[name]
            self._text.setdefault(name, {})[entity] = "".join(lines)
        for name, lines in block.openmetrics.items():
            self._om.setdefault(name, {})[entity] = "".join(lines)
        self._drop(entity, tuple(n for n in self._written.get(entity, ()) if n not in written))
        self._written[entity] = written
        self._tokens[entity] = token
        return 1

    def _drop(self, entity: str, families: tuple[str, ...]) -> None:
        for name in families:
            self._text.get(name, {}).pop(entity, None)
            self._om.get(name, {}).pop(entity, None)

    def chunks(self, openmetrics: bool) -> Iterator[bytes]:
        """The families in order, each a header and its entities' lines, one chunk each."""
        for name, shape in self._order.items():
            entries = self._text.get(name)
            if not entries:
                continue
            if shape.histogram and openmetrics:
                entries = self._om.get(name, entries)
            yield (shape.headers[openmetrics] + "".join(entries.values())).encode()

    def render(
        self, snap: Snapshot, openmetrics: bool = False, extra: Callable[[], bytes] | None = None
    ) -> bytes:
        """The exposition of ``snap``, then ``extra()`` (process metrics, same format)."""
        for _ in self.refresh(snap):
            pass
        return b"".join([*self.chunks(openmetrics), _tail(extra, openmetrics)])

    async def stream(
        self, snap: Snapshot, openmetrics: bool = False, extra: Callable[[], bytes] | None = None
    ) -> AsyncIterator[bytes]:
        """``render`` in pieces of a few ms, letting other tasks run between them. Results
        recorded meanwhile may show in this scrape: each entity's series are still taken
        together, and a scrape was never one instant for Prometheus."""
        for _ in self.refresh(snap):
            await asyncio.sleep(0)
        for chunk in self.chunks(openmetrics):
            yield chunk
        yield _tail(extra, openmetrics)


def _same(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    return all(a is b or a == b for a, b in zip(old, new, strict=True))


def _tail(extra: Callable[[], bytes] | None, openmetrics: bool) -> bytes:
    tail = extra() if extra is not None else b""
    if openmetrics:
        tail = tail.removesuffix(b"# EOF\n") + b"# EOF\n"
    return tail
