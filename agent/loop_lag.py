"""How late the event loop wakes up: a timer that asks to sleep and measures how long it slept.

Every probe, scrape and sweep runs on one loop; when something holds it, every timer fires
late. This is the agent's own view of that, exported so users see it too.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass, field

from agent.vocabulary import LAG_BUCKETS

TICK = 0.25  # seconds between measurements


@dataclass
class LoopLagStats:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS) + 1))
    total: float = 0.0
    worst: float = 0.0  # the longest since start, seconds

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LAG_BUCKETS, seconds)] += 1
        self.total += seconds
        self.worst = max(self.worst, seconds)


async def measure_forever(stats: LoopLagStats, tick: float = TICK) -> None:
    """Sleep ``tick`` again and again; each wake-up's lateness is one observation."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + tick
        await asyncio.sleep(tick)
        stats.observe(max(0.0, loop.time() - asked))
