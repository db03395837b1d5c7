"""/metrics rendered straight to text from the collector's ``add`` calls.

prometheus_client builds a Sample (a dict of labels) per series and formats it field by field,
too slow for tens of thousands of integrations (bench/ANALYSIS.md). This renderer takes the
same ``add`` calls the collector makes, so every family it exports shows here too, and writes
each line at once; its text equals prometheus_client's encoders' byte for byte, in the text
format 0.0.4 and in OpenMetrics 1.0 with exemplars (tests/exporters/prometheus). Cached between
scrapes: each probe's and integration's label text (dropped when the plan changes) and each
family's header.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.utils import floatToGoString

from agent.plan import Plan
from agent.snapshot import Snapshot
from agent.vocabulary import INTEGRATION_LABELS, PROBE_LABELS, Family
from exporters.prometheus.collector import Bucket, Sink

_OWN_CACHE = 4096  # label texts kept per family; targets and the like are unique per probe
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"


class Steps(Protocol):
    """What adds families to a sink a piece at a time: ``SnapshotCollector.steps``."""

    def __call__(self, snap: Snapshot, out: Sink) -> Iterator[None]: ...


# One-hot families (state, compliance) make up most series: their values, written once.
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


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one family's lines are written: the sample name, how many leading label values
    are a probe's or an integration's (their text is cached), and the names after them."""

    sample: str
    header: str
    base: int
    extra: tuple[str, ...]  # ',name="' of each label after the base
    histogram: bool
    own: dict[Any, str]  # the text of the labels after the base, by their values (bounded)


def _shape(family: Family, openmetrics: bool) -> _Shape:
    labels = family.labels
    base = 0
    if labels[: len(PROBE_LABELS)] == PROBE_LABELS:
        base = len(PROBE_LABELS)
    elif labels[: len(INTEGRATION_LABELS)] == INTEGRATION_LABELS:
        base = len(INTEGRATION_LABELS)
    name = family.name
    if family.type == "counter":
        sample = name + "_total"
        header_name = name if openmetrics else sample
    else:
        sample = header_name = name
    doc = family.help.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        doc = doc.replace('"', r"\"")
    header = f"# HELP {header_name} {doc}\n# TYPE {header_name} {family.type}\n"
    extra = tuple(f',{name}="' for name in labels[base:])
    return _Shape(sample, header, base, extra, family.type == "histogram", {})


class _Sink:
    """Collects one scrape's lines family by family, in the order families first appear.

    Labels are in prometheus_client's order: the family's own (probe or integration labels
    first, their text cached), then the constant labels.
    """

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer
        self._bases = renderer.bases
        self._const = renderer.const  # 'k="v",...' of the plan's constant labels, or ''
        self.groups: dict[str, tuple[_Shape, list[str]]] = {}
        self.chunks: dict[str, list[str]] = {}  # per family: lines joined at each step

    def compact(self) -> None:
        """Join each family's new lines into one string: hundreds of thousands of small
        strings would cost far more memory than the text they hold."""
        for name, (_, lines) in self.groups.items():
            if lines:
                self.chunks.setdefault(name, []).append("".join(lines))
                lines.clear()

    def encoded(self) -> Iterator[bytes]:
        """The families in order, each chunk encoded on its own and dropped once taken, so the
        text (tens of MB with 10,000 integrations) is never held twice over."""
        self.compact()
        for name, (shape, _) in self.groups.items():
            yield shape.header.encode()
            chunks = self.chunks.pop(name, [])
            while chunks:
                yield chunks.pop(0).encode()

    def add(
        self,
        family: Family,
        labels: tuple[str, ...],
        value: float,
        buckets: Sequence[Bucket] | None = None,
    ) -> None:
        group = self.groups.get(family.name)
        if group is None:
            group = self.groups[family.name] = (self._renderer.shape(family), [])
        shape, lines = group
        base = shape.base
        if base:
            key = labels if len(labels) == base else labels[:base]
            text = self._bases.get(key) or self._renderer.base_text(key, base)
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
        if self._const:
            text = f"{text},{self._const}" if text else self._const
        if shape.histogram:
            self._histogram(shape.sample, text, value, buckets or (), lines)
        elif text:
            lines.append(f"{shape.sample}{{{text}}} {_COMMON.get(value) or number(value)}\n")
        else:
            lines.append(f"{shape.sample} {number(value)}\n")

    def _histogram(
        self, name: str, text: str, total: float, buckets: Sequence[Bucket], lines: list[str]
    ) -> None:
        prefix = f"{name}_bucket{{{text}," if text else f"{name}_bucket{{"
        exemplars = self._renderer.openmetrics
        for bucket in buckets:
            line = f'{prefix}le="{bucket[0]}"}} {number(bucket[1])}'
            if exemplars and len(bucket) > 2:
                line += _exemplar(bucket[2])
            lines.append(line + "\n")
        labels = f"{{{text}}}" if text else ""
        lines.append(f"{name}_count{labels} {number(buckets[-1][1])}\n")
        lines.append(f"{name}_sum{labels} {number(total)}\n")


def _exemplar(exemplar: Any) -> str:
    labels = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(exemplar.labels.items()))
    text = f" # {{{labels}}} {number(exemplar.value)}"
    return text if exemplar.timestamp is None else f"{text} {exemplar.timestamp}"


class Renderer:
    """Renders a snapshot as text; keeps label text and headers from one scrape to the next.

    One per listener and format. Not thread-safe: the agent renders on its event loop.
    """

    def __init__(self, steps: Steps, *, openmetrics: bool = False) -> None:
        self._steps = steps
        self.openmetrics = openmetrics
        self.bases: dict[tuple[str, ...], str] = {}
        self._shapes: dict[Family, _Shape] = {}
        self._plan: Plan | None = None
        self.const = ""

    def shape(self, family: Family) -> _Shape:
        shape = self._shapes.get(family)
        if shape is None:
            shape = self._shapes[family] = _shape(family, self.openmetrics)
        return shape

    def base_text(self, key: tuple[str, ...], size: int) -> str:
        names = PROBE_LABELS if size == len(PROBE_LABELS) else INTEGRATION_LABELS
        text = ",".join(f'{k}="{escape(v)}"' for k, v in zip(names, key, strict=True))
        self.bases[key] = text
        return text

    def _sink(self, snap: Snapshot) -> _Sink:
        if snap.plan is not self._plan:  # label text of removed probes must not pile up
            self._plan, self.bases = snap.plan, {}
            self.const = ",".join(f'{k}="{escape(v)}"' for k, v in snap.plan.const_labels)
        return _Sink(self)

    def _tail(self, extra: Callable[[], bytes] | None) -> bytes:
        tail = extra() if extra is not None else b""
        if self.openmetrics:
            tail = tail.removesuffix(b"# EOF\n") + b"# EOF\n"
        return tail

    def render(self, snap: Snapshot, extra: Callable[[], bytes] | None = None) -> bytes:
        """The exposition of ``snap``, then ``extra()`` (process metrics, same format)."""
        sink = self._sink(snap)
        for _ in self._steps(snap, sink):
            pass
        return b"".join([*sink.encoded(), self._tail(extra)])

    async def stream(
        self, snap: Snapshot, extra: Callable[[], bytes] | None = None
    ) -> AsyncIterator[bytes]:
        """``render`` in pieces of a few ms, letting other tasks run between them, so a scrape
        of 10,000 integrations does not hold probes back; then the text, a chunk at a time.
        Results recorded meanwhile may show in this scrape: each probe's series are still
        taken together, and a scrape was never one instant for Prometheus."""
        sink = self._sink(snap)
        for _ in self._steps(snap, sink):
            sink.compact()
            await asyncio.sleep(0)
        for block in sink.encoded():
            yield block
        yield self._tail(extra)
