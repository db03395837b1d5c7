"""The status API, the history API and the page over a running agent and real peers: worst
first, states and readiness in words, time in state, uptime and bars that match the kept runs,
everything from a target escaped, no secret, card number or absolute path."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from agent.reporting.history import history_document
from agent.reporting.paths import plan_paths
from agent.reporting.status import status_document
from agent.reporting.status_page import render_page
from agent.reporting.stream import resolved
from tests.conftest import RunningAgent, StartAgent
from tests.peers.http_servers import Running, serve
from tests.peers.partner import CARD
from tests.peers.tls_servers import TlsPki

EVIL = '<img src=x onerror="window.pwned=1">'
SCRIPT = "<script>window.pwned=2</script>"


def evil_app() -> web.Application:
    """A target whose every answer carries HTML and a card number in its headers."""

    async def handle(_: web.Request) -> web.Response:
        headers = {"X-Note": f"{EVIL} card {CARD}", "X-Script": SCRIPT}
        return web.Response(status=500, text="no", headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


@pytest.fixture
async def evil() -> AsyncIterator[Running]:
    async with serve(evil_app()) as running:
        yield running


def ordering_config(partner: str, secure: str, pki: TlsPki, closed: str, evil: str) -> str:
    tls = f"tls: {{ca_file: {pki.ca_file}}}"
    return f"""\
agent: {{interval: 1s, timeout: 900ms, history: 4}}
compliance: {{enabled: false}}
patterns:
  zeta:
    owner: team-z
    integrations:
      calm:
        scope: internal
        probes:
          health: {{http: {{url: "{partner}/ok"}}}}
  alpha:
    owner: team-a
    integrations:
      fine:
        scope: internal
        criticality: critical
        probes:
          health: {{http: {{url: "{partner}/ok"}}}}
      warm:
        scope: external
        criticality: high
        probes:
          health:
            http: {{url: "{secure}/ok", {tls}}}
            thresholds: {{cert_expiry: {{warning: 36500d}}}}
      broken:
        scope: internal
        criticality: low
        runbook: https://runbooks.example.com/broken
        probes:
          port: {{tcp: {{address: "{closed}"}}}}
      victim:
        scope: internal
        criticality: low
        depends_on: [alpha/broken]
        probes:
          health: {{http: {{url: "{partner}/status/503"}}}}
      noisy:
        scope: external
        criticality: medium
        probes:
          page:
            http: {{url: "{evil}/"}}
            conditions: ["[STATUS] == 200", "[HEADER.X-Note] == calm", "[HEADER.X-Script] == calm"]
"""


async def runs_of(agent: RunningAgent, probe_id: str, at_least: int) -> None:
    for _ in range(200):
        totals = agent.app.store.totals.get(probe_id)
        if totals is not None and totals.runs >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{probe_id} did not run {at_least} times")


@pytest.fixture
async def agent(
    start_agent: StartAgent,
    partner: Running,
    secure_partner: Running,
    pki: TlsPki,
    closed_port: str,
    evil: Running,
) -> RunningAgent:
    running = await start_agent(
        ordering_config(partner.base, secure_partner.base, pki, closed_port, evil.base)
    )
    await running.wait_ready()
    return running


def page_now(agent: RunningAgent) -> tuple[dict, dict, str]:
    """The status document, the history and the page of one moment (nothing runs between)."""
    app = agent.app
    snap = app.snapshot()
    doc = resolved(status_document(snap, app.redactor, plan_paths(snap.plan)))
    history = resolved(history_document(snap))
    return doc, history, render_page(doc, history, 5)


async def test_the_page_puts_the_worst_first_in_words(agent: RunningAgent) -> None:
    doc, _, page = page_now(agent)
    assert re.findall(r'<section class="pattern" data-pattern="(\w+)"', page) == ["alpha", "zeta"]
    cards = re.findall(r'data-key="([\w/]+)" data-state="(\w+)"', page)
    assert cards == [
        ("alpha/noisy", "down"),  # as down as broken, and more critical (medium)
        ("alpha/broken", "down"),
        ("alpha/victim", "impacted"),
        ("alpha/warm", "degraded"),
        ("alpha/fine", "ok"),
        ("zeta/calm", "ok"),
    ]
    for key, state in cards:
        name = key.split("/")[1]
        head = f'<div class="head"><span class="state s-{state}">{state}</span> <h3>{name}'
        assert f'data-key="{key}" data-state="{state}">\n{head}' in page
    assert doc["summary"] == {"ok": 2, "degraded": 1, "down": 2, "impacted": 1, "unknown": 0}
    assert "<title>Oversight: 2 down, 1 impacted, 1 degraded</title>" in page
    assert '<span class="ready yes">ready</span>' in page
    for python in ("True", "False", "None"):
        assert python not in page
    victim = doc["patterns"]["alpha"]["integrations"]["victim"]
    assert victim["root_cause"] == "alpha/broken"
    assert "root cause alpha/broken" in page
    assert '<a href="https://runbooks.example.com/broken">runbook</a>' in page


async def test_time_in_state_uptime_and_bars_match_the_kept_runs(agent: RunningAgent) -> None:
    await runs_of(agent, "alpha/fine/health", 6)  # more runs than the 4 kept
    await runs_of(agent, "alpha/broken/port", 2)
    doc, history, page = page_now(agent)
    assert doc["agent"]["history_size"] == history["size"] == 4
    alpha = doc["patterns"]["alpha"]["integrations"]
    status = agent.app.tracker.status("alpha/broken")
    broken = alpha["broken"]
    assert (broken["since"], broken["flapping"], broken["changes"]) == (status.since, False, 1)
    in_state = doc["generated"] - status.since
    assert f'<span class="since" data-since="{status.since}">for {int(in_state)}s</span>' in page
    assert (broken["uptime"], alpha["fine"]["uptime"]) == (0.0, 1.0)
    fine = alpha["fine"]["probes"]["health"]
    assert fine["runs"] >= 6 and fine["kept_runs"] == 4 and fine["uptime"] == 1.0

    columns = history["probes"]["alpha/fine/health"]
    assert columns["success"] == [True] * 4 and columns["reason"] == [None] * 4
    assert columns["started"] == sorted(columns["started"])
    assert all(0 < d < 1 for d in columns["duration_seconds"])
    port = history["probes"]["alpha/broken/port"]
    assert set(port["reason"]) == {"connect_refused"} and not any(port["success"])
    warm = history["probes"]["alpha/warm/health"]
    assert all(warm["success"]) and all(warm["breached"])  # passed over a threshold

    def bar_of(probe_id: str) -> str:
        match = re.search(
            f'href="probe/{probe_id}">[^<]*</a> (<span class="bars".*?</span>)</span>', page
        )
        assert match, probe_id
        return match.group(1)

    fine_bar = bar_of("alpha/fine/health")
    assert 'aria-label="last 4 runs: 4 passed, 0 failed"' in fine_bar
    assert fine_bar.count('class="bar pass"') == 4 and "bar none" not in fine_bar
    port_bar = bar_of("alpha/broken/port")
    kept = len(port["started"])
    assert port_bar.count('class="bar fail"') == kept
    assert port_bar.count('class="bar none"') == 4 - kept
    assert f'title="{time_of(port["started"][0])} · failed: connect_refused · ' in port_bar
    assert bar_of("alpha/warm/health").count('class="bar warn"') == len(warm["started"])
    assert (
        '<span class="uptime" title="share of the kept runs that passed">uptime 0%</span>' in page
    )


def time_of(unix: int) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(unix))


async def test_what_a_target_says_is_escaped_and_scrubbed(agent: RunningAgent) -> None:
    await runs_of(agent, "alpha/noisy/page", 1)
    digits = CARD.replace(" ", "")
    for path in (
        "/",
        "/api/v1/status",
        "/probe/alpha/noisy/page",
        "/api/v1/probes/alpha/noisy/page",
    ):
        status, text = await agent.get(path)
        assert status == 200, path
        assert digits not in text and CARD not in text, path
        assert "**** **** **** 1111" in text, path  # the card, masked, in the failing condition
        if not path.startswith("/api/"):  # JSON carries the text as it was; pages escape it
            assert "<script>window.pwned" not in text and "<img src=x" not in text, path
    _, page = await agent.get("/")
    assert "&lt;img src=x onerror=&quot;window.pwned=1&quot;&gt;" in page
    for path in ("/", "/probe/alpha/noisy/page"):
        _, page = await agent.get(path)
        assert "&lt;script&gt;window.pwned=2&lt;/script&gt;" in page


async def test_the_history_api_narrows_and_names_what_it_does_not_know(
    agent: RunningAgent,
) -> None:
    status, text = await agent.get("/api/v1/history?pattern=zeta")
    assert status == 200
    document = json.loads(text)
    assert set(document) == {"size", "generated", "probes"}
    assert list(document["probes"]) == ["zeta/calm/health"]
    assert set(document["probes"]["zeta/calm/health"]) == {
        "started",
        "duration_seconds",
        "success",
        "reason",
        "breached",
    }
    _, text = await agent.get("/api/v1/history?pattern=alpha&integration=victim&probe=health")
    assert list(json.loads(text)["probes"]) == ["alpha/victim/health"]
    _, text = await agent.get("/api/v1/history")
    assert len(json.loads(text)["probes"]) == 6
    for query, code, error in [
        ("pattern=omega", 404, "there is no pattern 'omega'"),
        ("pattern=alpha&integration=ghost", 404, "pattern 'alpha' has no integration 'ghost'"),
        ("pattern=alpha&integration=fine&probe=x", 404, "integration alpha/fine has no probe 'x'"),
        ("integration=fine", 400, "integration and probe need a pattern"),
        ("pattern=alpha&probe=health", 400, "probe needs an integration"),
    ]:
        status, text = await agent.get(f"/api/v1/history?{query}")
        assert (status, json.loads(text)) == (code, {"error": error}), query


async def test_refresh_assets_and_a_status_that_stays_small(agent: RunningAgent) -> None:
    status, page = await agent.get("/?refresh=2s")
    assert status == 200 and 'data-refresh="2"' in page
    for bad in ("0s", "2h", "soon", "-1"):
        status, text = await agent.get(f"/?refresh={bad}")
        assert status == 400 and "refresh must be a duration from 1s to 1h" in text, bad
    script = re.search(r'<script src="(assets/status\.js\?v=\w+)" defer>', page)
    sheet = re.search(r'<link rel="stylesheet" href="(assets/status\.css\?v=\w+)">', page)
    assert script and sheet
    async with agent.session.get(f"{agent.base}/{script.group(1)}") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert response.headers["Cache-Control"] == "max-age=86400"
        assert "api/v1/history" in await response.text()
    async with agent.session.get(f"{agent.base}/{sheet.group(1)}") as response:
        assert response.headers["Content-Type"].startswith("text/css")
    assert (await agent.get("/assets/oversight.yaml"))[0] == 404
    _, text = await agent.get("/api/v1/status")
    calm = json.loads(text)["patterns"]["zeta"]["integrations"]["calm"]["probes"]["health"]
    assert set(calm) == {
        "kind",
        "target",
        "interval_seconds",
        "timeout_seconds",
        "runs",
        "kept_runs",
        "uptime",
        "latest",
    }  # the runs themselves are in the history API


async def test_one_pattern_of_the_status_api_and_page_and_its_own_summary(
    agent: RunningAgent,
) -> None:
    async with agent.session.get(f"{agent.base}/api/v1/status?pattern=alpha") as response:
        assert response.status == 200
        assert response.headers["Transfer-Encoding"] == "chunked"  # written as it is made
        document = json.loads(await response.text())
    assert list(document["patterns"]) == ["alpha"]
    integrations = document["patterns"]["alpha"]["integrations"]
    assert list(integrations) == ["fine", "warm", "broken", "victim", "noisy"]
    states = [i["state"] for i in integrations.values()]
    assert document["summary"] == {s: states.count(s) for s in document["summary"]}
    assert sum(document["summary"].values()) == 5
    status, text = await agent.get("/api/v1/status?pattern=omega")
    assert (status, json.loads(text)) == (404, {"error": "there is no pattern 'omega'"})
    status, page = await agent.get("/?pattern=zeta")
    assert status == 200 and "calm" in page and "victim" not in page
    status, page = await agent.get("/?pattern=omega")
    assert status == 404 and "there is no pattern" in page
