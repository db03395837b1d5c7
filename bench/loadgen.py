"""A paced HTTP load generator, run as its own process so its CPU is never counted.

``--mode probe`` asks blackbox_exporter for ``/probe?target=...`` at a fixed rate over N
targets, as Prometheus would (keep-alive connections to blackbox). ``--mode fresh`` and
``--mode keepalive`` GET the targets directly: the bare aiohttp loop, the Python floor.
Requests are launched in batches every TICK seconds: one event-loop wake-up per batch, not
per request (a sub-millisecond sleep returns at once and would turn pacing into a spin).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import quote

import aiohttp

TICK = 0.01


async def run(urls: list[str], rate: float, duration: float, fresh: bool, limit: int) -> None:
    connector = aiohttp.TCPConnector(force_close=fresh, limit=limit)
    timeout = aiohttp.ClientTimeout(total=10)
    errors = 0

    async def one(url: str) -> None:
        nonlocal errors
        try:
            async with session.get(url) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
        except (aiohttp.ClientError, TimeoutError, OSError):
            errors += 1

    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.monotonic()
        sent = 0
        while (now := time.monotonic()) - start < duration:
            due = int((now - start) * rate) + 1
            while sent < due:
                task = asyncio.create_task(one(urls[sent % len(urls)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(TICK)
        if tasks:
            await asyncio.wait(tasks, timeout=10)
    print(f"sent {sent} errors {errors}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["probe", "fresh", "keepalive"], required=True)
    parser.add_argument("--target-base", required=True, help="http://127.0.0.1:PORT/t/")
    parser.add_argument("--targets", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--blackbox", help="host:port of blackbox_exporter (mode probe)")
    args = parser.parse_args()
    targets = [f"{args.target_base}{i}" for i in range(args.targets)]
    if args.mode == "probe":
        base = f"http://{args.blackbox}/probe?module=http_2xx&target="
        urls = [base + quote(t, safe="") for t in targets]
    else:
        urls = targets
    asyncio.run(run(urls, args.rate, args.duration, args.mode == "fresh", 1024))


if __name__ == "__main__":
    main()
