"""The hostile targets of the fault and soak runs, in a process of their own.

``python bench/hostile.py --dir DIR`` starts one loopback server per hostile behaviour (the
test suite's peers, tests/peers) and writes ``DIR/hostile.json``: each behaviour's probe block
(the agent config's kind block, as JSON) and the ports it uses. It runs until SIGTERM. Also
``--clients PORT --idle N --slow M --seconds S``: N idle and M slow clients on an agent's
listener (the abuse case), from this process so the agent's side is all that is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run by path: the test suite's peers are not installed

from tests.peers import hostile  # noqa: E402
from tests.peers.dns_server import DnsServer  # noqa: E402
from tests.peers.http_servers import (  # noqa: E402
    MiB,
    answer_with,
    never_answer,
    peer_app,
    raw_server,
    serve,
)
from tests.peers.leaky import big_header_reply, junk_reply, spew  # noqa: E402
from tests.peers.tls_servers import TlsPki, silent  # noqa: E402
from tests.peers.tls_servers import serve as serve_tls  # noqa: E402

CARD = "4111111111111111"
ZONE = {"pay.bank.test.": {"A": ["10.0.0.1"]}}


async def serve_all(directory: Path) -> None:
    """Every hostile server, its probe blocks written to ``directory/hostile.json``."""
    pki = TlsPki.create(directory)
    behaviours: dict[str, dict[str, Any]] = {}
    async with contextlib.AsyncExitStack() as stack:

        async def raw(name: str, handler: Any) -> None:
            port = await stack.enter_async_context(raw_server(handler))
            behaviours[name] = {"http": {"url": f"http://127.0.0.1:{port}/"}}

        with hostile.tarpit() as tarpit:
            behaviours["connect never completes"] = {"http": {"url": f"http://127.0.0.1:{tarpit}/"}}
            await raw("accepts, never answers", never_answer)
            await raw("slow-loris headers", hostile.slow_headers(0.5))
            await raw("garbage bytes", spew(junk_reply(CARD)))
            await raw("1 MiB header", answer_with(big_header_reply(CARD, MiB)))
            await raw("gzip bomb", answer_with(hostile.gzip_bomb(256)))
            await raw("reset", hostile.reset_after_request)
            app = await stack.enter_async_context(serve(peer_app()))
            behaviours["slow-loris body"] = {"http": {"url": app.url("/trickle")}}
            behaviours["endless body"] = {"http": {"url": app.url("/stream/100000")}}
            behaviours["redirect loop"] = {"http": {"url": app.url("/loop")}}
            hang = await stack.enter_async_context(serve_tls(None, silent))
            ca = {"ca_file": str(pki.ca_file)}
            behaviours["TLS handshake hangs"] = {
                "http": {"url": f"https://127.0.0.1:{hang.port}/", "tls": ca}
            }
            expired = await stack.enter_async_context(serve_tls(pki.server_context("expired")))
            behaviours["expired certificate"] = {
                "http": {"url": f"https://127.0.0.1:{expired.port}/", "tls": ca}
            }
            dns = await stack.enter_async_context(DnsServer(ZONE, mode="silent"))
            behaviours["DNS black hole"] = {
                "dns": {"query_name": "pay.bank.test", "server": dns.address}
            }
            hole = await stack.enter_async_context(raw_server(never_answer))
            behaviours["otlp black hole"] = {"port": hole}  # not a target: the collector
            grpc_port = await stack.enter_async_context(hostile.hanging_grpc())
            behaviours["gRPC never answers"] = {"grpc": {"address": f"127.0.0.1:{grpc_port}"}}
            (directory / "hostile.json").write_text(json.dumps(behaviours, indent=1))
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()


async def abuse(port: int, idle: int, slow: int, seconds: float) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a client a descriptor
    until = time.monotonic() + seconds
    closed = [0]
    await asyncio.gather(
        *(hostile.idle_client(port, until, closed) for _ in range(idle)),
        *(hostile.slow_client(port, until, closed) for _ in range(slow)),
    )
    print(f"closed by the agent: {closed[0]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--clients", type=int, help="the agent's port, to abuse")
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    if args.clients:
        asyncio.run(abuse(args.clients, args.idle, args.slow, args.seconds))
    else:
        asyncio.run(serve_all(args.dir))


if __name__ == "__main__":
    main()
