"""The Prometheus output: /metrics in the text format or OpenMetrics, as the scraper asks,
gzipped when it asks for that too.

Rendered from the snapshot at scrape time, entity by entity, keeping what did not change
(exporters/prometheus/exposition.py); the process_* families come from prometheus_client's
own collector, in the same format. Compression runs in a worker thread (zlib releases the
GIL), so a large scrape does not hold the event loop while it is squeezed.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder

from agent.outputs import BaseOutput, RunTrace
from agent.plan import ProbePlan
from agent.results import Result
from agent.snapshot import Snapshot
from agent.store import ProbeTotals
from exporters.prometheus.exposition import Exposition

GZIP_LEVEL = 1  # the fastest: a scrape's text shrinks tenfold at level 1 already


class PrometheusOutput(BaseOutput):
    name = "prometheus"

    def __init__(self, snapshot: Callable[[], Snapshot], totals: Mapping[str, ProbeTotals]) -> None:
        self._snapshot = snapshot
        self._totals = totals
        self._process = CollectorRegistry(auto_describe=False)  # process_* only
        ProcessCollector(registry=self._process)
        self.exposition = Exposition()

    def on_result(self, probe: ProbePlan, result: Result, trace: RunTrace) -> None:
        self.exposition.ran(probe, result, self._totals.get(probe.id))

    def exposition_for(
        self, accept: str, accept_encoding: str = ""
    ) -> tuple[dict[str, str], AsyncIterator[bytes]]:
        """The headers of the answer (content type, and encoding when gzipped) and its body in
        chunks, for the scraper's ``Accept`` and ``Accept-Encoding``."""
        encoder, content_type = choose_encoder(accept)
        openmetrics = content_type.startswith("application/openmetrics-text")
        chunks = self.exposition.stream(
            self._snapshot(), openmetrics, lambda: encoder(self._process)
        )
        headers = {"Content-Type": content_type}
        if "gzip" in accept_encoding.lower():
            headers["Content-Encoding"] = "gzip"
            return headers, _gzip(chunks)
        return headers, chunks


async def _gzip(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    squeeze = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    async for chunk in chunks:
        if len(chunk) > 65536:
            yield await asyncio.to_thread(squeeze.compress, chunk)
        else:
            yield squeeze.compress(chunk)
    yield squeeze.flush()
