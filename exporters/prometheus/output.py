"""The Prometheus output: /metrics in the text format or OpenMetrics, as the scraper asks.

Rendered from the snapshot at scrape time in steps that let probes run in between; the
process_* families come from prometheus_client's own collector, in the same format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder

from agent.outputs import BaseOutput
from agent.snapshot import Snapshot
from exporters.prometheus.collector import SnapshotCollector
from exporters.prometheus.exposition import Renderer


class PrometheusOutput(BaseOutput):
    name = "prometheus"

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot
        self._process = CollectorRegistry(auto_describe=False)  # process_* only
        ProcessCollector(registry=self._process)
        steps = SnapshotCollector(snapshot).steps
        self._renderers = {False: Renderer(steps), True: Renderer(steps, openmetrics=True)}

    def exposition(self, accept: str) -> tuple[str, AsyncIterator[bytes]]:
        """The content type the scraper asked for (``Accept``) and the body, in chunks."""
        encoder, content_type = choose_encoder(accept)
        renderer = self._renderers[content_type.startswith("application/openmetrics-text")]
        return content_type, renderer.stream(self._snapshot(), lambda: encoder(self._process))
