"""The audit trail shipped as OTLP log records to a real receiver: every record the local file
holds, its chain fields as attributes, verifiable from the store's export; a collector away
costs neither a probe run nor a local record, and what it missed is counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.audit import verify_files
from agent.cli import main
from exporters.otlp.failures import AWAY_QUEUE
from tests.peers.otlp_receiver import (
    GrpcReceiver,
    HttpReceiver,
    Sink,
    otel_agent,
    otlp_of,
    until,
)

CONFIG = """\
exporters:
  otlp:
    timeout: 500ms
    shutdown_timeout: 2s
    logs: {{max_queue_size: {queue}}}
audit:
  path: {audit}
patterns:
  account:
    integrations:
      ledger:
        scope: external
        probes:
          port: {{interval: 100ms, timeout: 90ms, tcp: {{address: "127.0.0.1:1"}}}}
      service:
        scope: internal
        depends_on: [account/ledger]
        probes:
          port: {{interval: 100ms, timeout: 90ms, tcp: {{address: "127.0.0.1:1"}}}}
"""


def local_records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_every_record_is_shipped_with_its_chain_and_verifies_from_the_export(
    tmp_path: Path, protocol: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = Sink()
    grpc_receiver, http_receiver = GrpcReceiver(sink), HttpReceiver(sink)
    grpc_receiver.start()
    await http_receiver.start()
    endpoint = grpc_receiver.endpoint if protocol == "grpc" else http_receiver.endpoint
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_BLRP_SCHEDULE_DELAY": "100",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_TRACES_EXPORTER": "none",
    }
    audit = tmp_path / "audit.jsonl"
    config = CONFIG.format(queue=2048, audit=audit)
    try:
        async with otel_agent(tmp_path, config, env) as agent:
            await until(lambda: len(sink.log_records()) >= 4, timeout=10, what="audit records")
            (tmp_path / "oversight.yaml").write_text(config.replace("127.0.0.1:1", "127.0.0.1:2"))
            assert (await agent.app.reload()).ok
        # stopped: agent_stopped is the last record, flushed locally, then shipped
    finally:
        grpc_receiver.stop()
        await http_receiver.stop()

    written = local_records(audit)
    shipped = sink.log_records()
    assert [r.attributes["oversight.audit.seq"] for r in shipped] == [r["seq"] for r in written]
    types = [r["type"] for r in written]
    assert types[0] == "agent_started" and types[-1] == "agent_stopped"
    assert {"config_loaded", "state_changed", "config_reloaded"} <= set(types)
    for local, log in zip(written, shipped, strict=True):
        attributes = log.attributes
        assert attributes["oversight.agent"] == log.resource["service.instance.id"]
        for field in ("time", "type", "subject", "prev", "hash"):
            assert attributes[f"oversight.audit.{field}"] == local[field]
        assert json.loads(attributes["oversight.audit.details"]) == local["details"]
        assert log.body == f"{local['type']} {local['subject']}"
        assert log.severity == "INFO"
        assert log.time // 10**6 > 0

    export = tmp_path / "export.jsonl"
    export.write_text(sink.collector_file())
    assert main(["audit", "verify", str(export)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {len(written)} records of 1 agent(s) in the export")

    # A record edited in the store is found.
    lines = export.read_text().splitlines()
    lines[-1] = lines[-1].replace("agent_stopped", "agent_paused")
    export.write_text("\n".join(lines) + "\n")
    assert main(["audit", "verify", str(export)]) == 1
    assert f"record {len(written) - 1} of agent" in capsys.readouterr().err


@pytest.fixture
def refusing() -> Iterator[tuple[Sink, dict[str, str]]]:
    """A receiver that refuses every export, and the environment that sends it the records."""
    sink = Sink(mode="refuse")
    receiver = GrpcReceiver(sink)
    receiver.start()
    try:
        yield (
            sink,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BLRP_SCHEDULE_DELAY": "50",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_TRACES_EXPORTER": "none",
            },
        )
    finally:
        receiver.stop()


async def test_a_collector_away_costs_no_probe_run_and_no_local_record(
    tmp_path: Path, refusing: tuple[Sink, dict[str, str]]
) -> None:
    """Refused for the whole run, with room for 4 records: probing carries on, the local trail
    is whole and verifies, and every record the collector did not get is counted."""
    sink, env = refusing
    audit = tmp_path / "audit.jsonl"
    async with otel_agent(tmp_path, CONFIG.format(queue=4, audit=audit), env) as agent:
        app = agent.app
        assert app.audit is not None
        for n in range(40):  # more than the queue holds, in one flush
            app.audit.emit("security_event", f"account/ledger#{n}", kind="test")
        runs = sum(t.runs for t in app.store.totals.values())
        await until(
            lambda: app.snapshot().agent.export_failures.get(("otlp", "logs"), 0) >= 36,
            timeout=10,
            what="dropped records counted",
        )
        await until(lambda: sum(t.runs for t in app.store.totals.values()) > runs + 10)
        scrape = await agent.scrape()
        assert 'oversight_export_failures_total{exporter="otlp",signal="logs"' in scrape
        logs = otlp_of(app).logs
        assert logs is not None

        def accounted() -> bool:
            """Every record written is counted as not delivered, or is still waiting."""
            counted = app.snapshot().agent.export_failures[("otlp", "logs")]
            return (
                app.audit is not None
                and app.audit.log.pending == 0
                and (counted + logs.outstanding == len(local_records(audit)))
            )

        await until(accounted, timeout=10, what="every record counted or waiting")
        assert logs.outstanding <= 4
    written = local_records(audit)
    assert sum(1 for r in written if r["type"] == "security_event") == 40
    assert written[-1]["type"] == "agent_stopped"
    assert verify_files([audit], head=audit.with_name("audit.jsonl.head")).ok
    assert sink.logs == []


async def test_a_collector_away_holds_few_records(
    tmp_path: Path, refusing: tuple[Sink, dict[str, str]]
) -> None:
    """Room for 2,048 records: once an export has failed, no more than ``AWAY_QUEUE`` wait;
    the others are counted as not delivered."""
    sink, env = refusing
    audit = tmp_path / "audit.jsonl"
    async with otel_agent(tmp_path, CONFIG.format(queue=2048, audit=audit), env) as agent:
        app, logs = agent.app, otlp_of(agent.app).logs
        assert app.audit is not None and logs is not None
        await until(lambda: otlp_of(app).exports.failing("logs"), 10, "a failed export")
        for n in range(3000):
            app.audit.emit("security_event", f"account/ledger#{n}", kind="test")
        await until(lambda: app.audit is not None and app.audit.log.pending == 0, 10)
        assert logs.outstanding <= AWAY_QUEUE
        failed = app.snapshot().agent.export_failures[("otlp", "logs")]
        assert failed >= 3000 - AWAY_QUEUE
    assert sum(1 for r in local_records(audit) if r["type"] == "security_event") == 3000
    assert sink.logs == []
