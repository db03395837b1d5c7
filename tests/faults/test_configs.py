"""A broken config of every kind: refused at start with its file, line and key; on reload the
running config is kept, the reload metric says so at once, and no run is lost."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.app import App
from agent.config import ConfigError
from agent.probers import REGISTRY
from tests.conftest import StartAgent, sample
from tests.faults.conftest import probe_config
from tests.peers.http_servers import Running, peer_app, serve
from tests.peers.otlp_receiver import until

# One block per kind that its own checks refuse, and the words the error must hold.
BROKEN = {
    "http": ('http: {url: "not a url"}', "url"),
    "tcp": ('tcp: {address: "no-port-here"}', "address"),
    "dns": ("dns: {query_name: pay.bank.test, query_type: NOPE}", "query_type"),
    "tls": ('tls: {address: "h.example:443", tls: {min_version: TLS9}}', "min_version"),
    "grpc": (
        'grpc: {address: "h.example:443", tls: true, tls_config: {insecure_skip_verify: true}}',
        "grpc",
    ),
    "flow": ("flow: {steps: []}", "steps"),
    "command": ("command: {argv: []}", "argv"),
    "host": ("host: {resources: [gpu]}", "resources"),
    "process": ("process: {}", "process"),
    "scrape": ('scrape: {url: "http://h.example/metrics", value: "sum("}', "value"),
    "credential": ("credential: {}", "credential"),
}

GOOD = """\
agent: {{interval: 200ms, timeout: 150ms}}
patterns:
  hostile:
    integrations:
      target:
        scope: external
        probes:
          case:
            http: {{url: "{url}"}}
"""


def test_every_kind_has_a_broken_config() -> None:
    assert set(BROKEN) == set(REGISTRY)


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_kind_is_refused_at_start_with_its_line(kind: str, tmp_path: Path) -> None:
    block, words = BROKEN[kind]
    path = tmp_path / "oversight.yaml"
    path.write_text(probe_config(f"            {block}"))
    with pytest.raises(ConfigError) as caught:
        App(path)
    problems = [str(p) for p in caught.value.problems]
    assert any(
        "oversight.yaml:10: patterns.hostile.integrations.target.probes.case" in p for p in problems
    ), problems
    assert any(words in p for p in problems), problems


@pytest.fixture
async def peer() -> AsyncIterator[Running]:
    async with serve(peer_app()) as running:
        yield running


@pytest.mark.parametrize("kind", sorted(BROKEN))
async def test_a_broken_kind_on_reload_keeps_the_running_config_and_every_run(
    kind: str, start_agent: StartAgent, peer: Running
) -> None:
    agent = await start_agent(GOOD.format(url=peer.url("/status/200")))
    app = agent.app
    await agent.wait_result("hostile/target/case")
    block, words = BROKEN[kind]
    app.config_path.write_text(probe_config(f"            {block}"))
    runs, started = app.store.totals["hostile/target/case"].runs, time.monotonic()
    status, text = await agent.post("/-/reload")
    assert status == 400 and words in text and "running config kept" in text, text
    assert str(app.config_path.parent) not in text
    m = await agent.metrics()
    assert sample(m, "oversight_config_last_reload_successful") == 0.0  # within the answer
    await until(lambda: app.store.totals["hostile/target/case"].runs >= runs + 5, 5.0)
    elapsed = time.monotonic() - started
    done = app.store.totals["hostile/target/case"].runs - runs
    assert done >= int(elapsed / 0.2) - 1, (done, elapsed)  # on schedule: none lost
    assert app.scheduler.stats.skipped == {"overlap": 0, "missed": 0}
    assert app.store.latest["hostile/target/case"].success
