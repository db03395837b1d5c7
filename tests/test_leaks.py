"""Nothing leaks: a running agent's every output, searched for planted secrets and a card number.

This is the test every kind joins. Canary credentials are planted in everything the agent
sends (a header from ``${CANARY_KEY}``, a bearer token from ``${...}`` and from a file, URL
userinfo, a secret query parameter, gRPC metadata) to peers that echo them back, and a test
card number sits where conditions read it (a JSON field, an error body, binary junk, a huge
header). The agent runs against those peers until each integration has shown the outcomes
its row asks for (failures, and successes where the peer allows), with OTLP export to a real
receiver, an audit trail, and logs at debug in text and JSON; then
every output is searched: /metrics (text and OpenMetrics), the status, compliance and audit
APIs, the status page, the logs, the audit file, ``oversight report`` in every format (from
the agent and with ``-c``), ``oversight probe`` (table and ``--json``) and every OTLP request
the receiver took (metrics, traces, and the audit records as logs). No canary, in any common
encoding, and no full card number may appear.

A new kind adds a ``Plant`` to ``PLANTS``: probes that send a canary to a peer that repeats it
(or read a card number), at least one failing and, where the kind allows, one succeeding; its
prober adds every credential it sends to ``ctx.secrets``. If this test finds a leak, fix it
where the text leaves the agent (agent/redact.py, the runner's Result, the output), not here.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import logging
import re
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from agent.app import App
from agent.logs import log_handler
from agent.redact import encodings
from agent.web import bound_port, serve
from tests.peers.grpc_servers import serve_echoing_grpc
from tests.peers.http_servers import answer_with, raw_server
from tests.peers.http_servers import serve as serve_http
from tests.peers.leaky import big_header_reply, junk_reply, leaky_app, spaced
from tests.peers.otlp_receiver import GrpcReceiver, Sink, until

CARD = "4539148803436467"  # a test Visa number: passes Luhn, belongs to nobody
MARK = "Cnry"  # every canary starts with it: a canary cut in two still shows
CANARIES = {  # name -> value; the ones with an environment variable come from ${...}
    "CANARY_KEY": "Cnry-hdr+Q7/k9Zx",
    "CANARY_BEARER": "Cnry-brr-4Lm8Tq2w",
    "token_file": "Cnry-file-Vb6Rn3Hs",
    "password_file": "Cnry-pwf-Jt3Kd9Lc",
    "extra_header": "Cnry-xtra-Gm5Qw2Ze",  # a header named secret in secret_headers
    "password": "Cnry-pw/9Lqx",
    "query": "Cnry-qry-Xe5Wd8Jk",
    "grpc": "Cnry-grpc-Pz2Mc7Ua",
    "otlp": "Cnry-otlp-Hy4Nf6Rb",  # the collector's API key, in OTEL_EXPORTER_OTLP_HEADERS
}
ENVIRONMENT = {name: value for name, value in CANARIES.items() if name.startswith("CANARY_")}


@dataclass(frozen=True)
class Plant:
    """One integration: its probes (YAML, ``{http}`` and friends filled in) and the outcomes
    its runs must have shown before the outputs are searched."""

    name: str
    probes: str
    outcomes: tuple[str, ...] = ("success", "failure")
    compliance: str = ""  # the integration's compliance block, e.g. an auth check


PLANTS = (
    Plant(
        "header",
        """
        sent:
          http: {url: "{http}/echo", headers: {X-Api-Key: "${CANARY_KEY}"}}
          conditions: ["[STATUS] == 200", "[BODY.headers.X-Api-Key] exists"]
        rejected:
          http: {url: "{http}/echo", headers: {X-Api-Key: "${CANARY_KEY}"}}
          conditions: ["[BODY.headers.X-Api-Key] == the-previous-key"]
        """,
        compliance="{auth_required: {probes: [sent]}}",
    ),
    Plant(
        "bearer_env",
        """
        sent:
          http: {url: "{http}/echo", bearer_token: "${CANARY_BEARER}"}
          conditions: ["[BODY.headers.Authorization] exists"]
        rejected:
          http: {url: "{http}/echo", bearer_token: "${CANARY_BEARER}"}
          conditions: ["[BODY.headers.Authorization] == Bearer expired"]
        """,
    ),
    Plant(
        "bearer_file",
        """
        sent:
          http: {url: "{http}/echo", bearer_token_file: "{token_file}"}
          conditions: ["[BODY.headers.Authorization] exists"]
        rejected:
          http: {url: "{http}/echo", bearer_token_file: "{token_file}"}
          conditions: ["[BODY.headers.Authorization] == Bearer expired"]
        """,
    ),
    Plant(
        "basic_file",
        """
        sent:
          http: {url: "{http}/echo", basic_auth: {username: ops, password_file: "{password_file}"}}
          conditions: ["[BODY.headers.Authorization] exists"]
        rejected:
          http: {url: "{http}/echo", basic_auth: {username: ops, password_file: "{password_file}"}}
          conditions: ["[BODY.headers.Authorization] == Basic b3BzOm9sZA=="]
        """,
    ),
    Plant(
        "extra_header",
        """
        sent:
          http:
            url: "{http}/echo"
            headers: {X-Partner-Ref: "{extra_header}"}
            secret_headers: [X-Partner-Ref]
          conditions: ["[BODY.headers.X-Partner-Ref] exists"]
        rejected:
          http:
            url: "{http}/echo"
            headers: {X-Partner-Ref: "{extra_header}"}
            secret_headers: [X-Partner-Ref]
          conditions: ["[BODY.headers.X-Partner-Ref] == old"]
        """,
    ),
    Plant(
        "userinfo",
        """
        sent:
          http: {url: "http://ops:{password_in_url}@{http_host}/echo"}
          conditions: ["[BODY.headers.Authorization] exists"]
        rejected:
          http: {url: "http://ops:{password_in_url}@{http_host}/echo"}
          conditions: ["[BODY.headers.Authorization] == Basic b3BzOm9sZA=="]
        """,
    ),
    Plant(
        "query",
        """
        sent:
          http: {url: "{http}/echo?api_key={query}&page=2"}
          conditions: ["[BODY.url] contains page"]
        rejected:
          http: {url: "{http}/echo?api_key={query}&page=2"}
          conditions: ["[BODY.query.api_key] == old", "[BODY.url] == /"]
        """,
        compliance="{auth_required: {probes: [sent]}}",
    ),
    Plant(
        "grpc",
        """
        health:
          grpc: {address: "{grpc}", metadata: {x-api-key: "{grpc_canary}"}}
        """,
    ),
    Plant(
        "card_field",
        """
        matches:
          http: {url: "{http}/card"}
          conditions: ["[BODY.card] == \\"{card}\\""]
        differs:
          http: {url: "{http}/card"}
          conditions: ["[BODY.card] == 0"]
        """,
    ),
    Plant(
        "declined",
        """
        pay:
          http: {url: "{http}/declined", headers: {X-Api-Key: "${CANARY_KEY}"}}
          conditions: ["[STATUS] == 200", "[BODY.error] contains approved"]
        """,
        outcomes=("failure",),
    ),
    Plant("junk", 'health: {http: {url: "http://127.0.0.1:{junk}/"}}', outcomes=("failure",)),
    Plant("big_header", 'health: {http: {url: "http://127.0.0.1:{big}/"}}', outcomes=("failure",)),
)


def forbidden() -> set[str]:
    """Every canary as written, URL-encoded, JSON-escaped and in base64, the Basic credentials
    made of the passwords, the canary mark itself, and the card number."""
    forms = {MARK, CARD, spaced(CARD)}
    for value in CANARIES.values():
        forms |= encodings(value)
        forms |= {
            base64.b64encode(value.encode()).decode(),
            base64.urlsafe_b64encode(value.encode()).decode(),
        }
    for password in (CANARIES["password"], CANARIES["password_file"]):
        basic = f"ops:{password}".encode()
        forms |= {base64.b64encode(basic).decode(), base64.urlsafe_b64encode(basic).decode()}
    return forms


FORBIDDEN = forbidden()


def leaks(text: str) -> list[str]:
    """Each form of FORBIDDEN that ``text`` holds: how often, and where it first shows. The
    card is also sought with every space and dash taken out."""
    found = []
    for form in sorted(FORBIDDEN):
        where = text.find(form)
        if where >= 0:
            context = text[max(where - 80, 0) : where + len(form) + 20]
            found.append(f"{form!r} x{text.count(form)}: ...{context!r}")
    if CARD in re.sub(r"[ -]", "", text) and CARD not in text:
        found.append(f"{CARD!r} with separators")
    return found


CONFIG = """\
agent:
  interval: 700ms
  timeout: 600ms
  state: {failures_to_down: 1, successes_to_recover: 1}
audit: {path: "{audit}"}
patterns:
  leaks:
    owner: team-leaks
    integrations:
"""


def config_text(places: dict[str, str]) -> str:
    """The agent's config: one integration per plant, placeholders filled in."""
    text = CONFIG
    for plant in PLANTS:
        probes = textwrap.indent(textwrap.dedent(plant.probes).strip(), " " * 10)
        text += f"      {plant.name}:\n        scope: external\n"
        if plant.compliance:
            text += f"        compliance: {plant.compliance}\n"
        text += f"        probes:\n{probes}\n"
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


@dataclass
class Peers:
    places: dict[str, str]
    sink: Sink


@asynccontextmanager
async def peers(workdir: Path) -> AsyncIterator[Peers]:
    """The leaky HTTP partner, the gRPC server that quotes metadata, the junk and big-header
    raw servers and an OTLP receiver, all on loopback."""
    token_file, password_file = workdir / "token", workdir / "password"
    token_file.write_text(CANARIES["token_file"] + "\n")
    password_file.write_text(CANARIES["password_file"] + "\n")
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(serve_http(leaky_app(CARD)))
        grpc_peer = await stack.enter_async_context(serve_echoing_grpc(deny_every=2))
        junk = await stack.enter_async_context(raw_server(answer_with(junk_reply(CARD))))
        big = await stack.enter_async_context(raw_server(answer_with(big_header_reply(CARD))))
        sink = Sink()
        receiver = GrpcReceiver(sink)
        receiver.start()
        stack.callback(receiver.stop)
        places = {
            "http": http.base,
            "http_host": http.base.removeprefix("http://"),
            "token_file": str(token_file),
            "password_file": str(password_file),
            "extra_header": CANARIES["extra_header"],
            "password_in_url": CANARIES["password"].replace("/", "%2F"),
            "query": CANARIES["query"],
            "grpc": grpc_peer.address,
            "grpc_canary": CANARIES["grpc"],
            "card": CARD,
            "junk": str(junk),
            "big": str(big),
            "audit": str(workdir / "audit.jsonl"),
            "otlp": receiver.endpoint,
        }
        yield Peers(places, sink)


def not_the_peers(record: logging.LogRecord) -> bool:
    """The peers run in this process and log every request they serve (credentials in the
    query included): that is their log, not the agent's, whose listener keeps no access log."""
    return record.name != "aiohttp.access"


def shown_everything(app: App) -> bool:
    """Every plant's probes have had the outcomes it asks for."""
    for plant in PLANTS:
        totals = [
            t for key, t in app.store.totals.items() if key.startswith(f"leaks/{plant.name}/")
        ]
        seen = set()
        if any(t.successes for t in totals):
            seen.add("success")
        if any(t.failures for t in totals):
            seen.add("failure")
        if not set(plant.outcomes) <= seen:
            return False
    return True


async def oversight(*args: str) -> str:
    """``oversight ARGS`` in a subprocess: what it wrote to stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode in (0, 1), (args, process.returncode, err.decode()[-2000:])
    return out.decode(errors="replace") + "\n" + err.decode(errors="replace")


async def commands(base: str, config: Path) -> dict[str, str]:
    """Every report format from the agent and from one pass of the config, and ``probe``;
    at debug, their logs alternating text and JSON."""
    runs = {}
    for index, fmt in enumerate(("md", "json", "csv", "html")):
        logs = ("--log-level", "debug", "--log-format", ("text", "json")[index % 2])
        runs[f"report --from ({fmt})"] = ("report", "--from", base, "--format", fmt, *logs)
        runs[f"report -c ({fmt})"] = ("report", "-c", str(config), "--format", fmt, *logs)
    runs["probe"] = ("probe", "-c", str(config), "--log-level", "debug")
    runs["probe --json"] = ("probe", "-c", str(config), "--json", "--log-level", "debug")
    limit = asyncio.Semaphore(3)

    async def one(args: tuple[str, ...]) -> str:
        async with limit:
            return await oversight(*args)

    outputs = await asyncio.gather(*(one(args) for args in runs.values()))
    return dict(zip(runs, outputs, strict=True))


async def listener(session: aiohttp.ClientSession, base: str) -> dict[str, str]:
    """What the agent's listener serves, by page."""
    openmetrics = {"Accept": "application/openmetrics-text; version=1.0.0"}
    pages = {
        "/metrics": ("/metrics", {}),
        "/metrics (OpenMetrics)": ("/metrics", openmetrics),
        "/api/v1/status": ("/api/v1/status", {}),
        "/api/v1/compliance": ("/api/v1/compliance", {}),
        "/api/v1/audit": ("/api/v1/audit?since=1h", {}),
        "/ (status page)": ("/", {}),
    }
    out = {}
    for name, (path, headers) in pages.items():
        async with session.get(base + path, headers=headers) as response:
            assert response.status == 200, (path, response.status)
            out[name] = await response.text()
    return out


def otlp_requests(sink: Sink) -> dict[str, str]:
    """Every request the receiver took, in protobuf text form (every field, every string)."""
    with sink.lock:
        return {
            "OTLP metrics": "\n".join(str(request) for request in sink.metrics),
            "OTLP traces": "\n".join(str(request) for request in sink.traces),
            "OTLP logs (the audit trail)": "\n".join(str(request) for request in sink.logs),
        }


@contextmanager
def agent_logs(app: App) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """The agent's log at debug, as the CLI writes it, in text and in JSON at once."""
    text_log, json_log = io.StringIO(), io.StringIO()
    handlers = [
        log_handler("text", lambda: app.redactor, text_log),
        log_handler("json", lambda: app.redactor, json_log),
    ]
    level = logging.getLogger().level
    for handler in handlers:
        handler.addFilter(not_the_peers)
        logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        yield text_log, json_log
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)


async def test_no_output_repeats_a_secret_or_a_card_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    async with peers(tmp_path) as running:
        path = tmp_path / "oversight.yaml"
        path.write_text(config_text(running.places))
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": running.places["otlp"],
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={CANARIES['otlp']}",
        }
        app = App(path, listen="127.0.0.1:0", environ=env)
        with agent_logs(app) as (text_log, json_log):
            web = await serve(app)
            await app.start()
            base = f"http://127.0.0.1:{bound_port(web)}"
            try:
                await until(
                    lambda: (
                        shown_everything(app)
                        and running.sink.traces
                        and running.sink.metrics
                        and running.sink.logs
                    ),
                    timeout=30,
                    what="every plant failing and succeeding, and OTLP arriving",
                )
                async with aiohttp.ClientSession() as session:
                    outputs = await listener(session, base)
                outputs |= await commands(base, path)
            finally:
                await app.stop()  # flushes the spans, the last metrics and the audit trail
                await web.cleanup()
        outputs |= otlp_requests(running.sink)
        assert {h.get("x-api-key") for h in running.sink.headers} == {CANARIES["otlp"]}
    outputs["log (text)"] = text_log.getvalue()
    outputs["log (json)"] = json_log.getvalue()
    outputs["audit file"] = (tmp_path / "audit.jsonl").read_text()

    found = {name: hits for name, text in outputs.items() if (hits := leaks(text))}
    assert found == {}, json.dumps(found, indent=1)
    shows_what_it_searched(outputs)


def shows_what_it_searched(outputs: dict[str, str]) -> None:
    """The outputs held the failures, masked: the search above found nothing in real text."""
    assert [name for name, text in outputs.items() if not text.strip()] == []
    masked = "**** **** **** " + CARD[-4:]
    status = json.loads(outputs["/api/v1/status"])
    assert masked in outputs["/api/v1/status"] and "<redacted>" in outputs["/api/v1/status"]
    integrations = status["patterns"]["leaks"]["integrations"]
    assert {i["state"] for i in integrations.values()} >= {"down"}
    page = html.unescape(outputs["/ (status page)"])
    assert masked in page and "<redacted>" in page
    assert "card number " + masked in outputs["/api/v1/compliance"]
    assert "state_changed" in outputs["audit file"] and "security_event" in outputs["audit file"]
    assert "<redacted>" in outputs["log (text)"] and "<redacted>" in outputs["log (json)"]
    assert "<redacted>" in outputs["OTLP traces"] and "condition failed" in outputs["OTLP traces"]
    shipped = outputs["OTLP logs (the audit trail)"]
    assert "security_event" in shipped and "agent_stopped" in shipped
    assert "What needs attention" in outputs["report --from (md)"]
    assert " FAIL " in outputs["probe"] and '"success": false' in outputs["probe --json"]
