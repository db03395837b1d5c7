"""The compliance metrics over OTLP: the same names and attributes as on /metrics."""

from __future__ import annotations

from pathlib import Path

from tests.peers.http_servers import Running
from tests.peers.otlp_receiver import HttpReceiver, Sink, otel_agent, until
from tests.peers.partner import config


async def test_failing_checks_and_scores_are_exported(tmp_path: Path, partner: Running) -> None:
    sink = Sink()
    receiver = HttpReceiver(sink)
    await receiver.start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
    }
    text = config(
        f"""      portal:
        scope: external
        probes:
          home: {{interval: 300ms, timeout: 250ms, http: {{url: "{partner.url("/bare")}"}}}}
"""
    )
    try:
        async with otel_agent(tmp_path, text, env):
            await until(lambda: sink.latest("oversight_compliance_overall_score_ratio"))
    finally:
        await receiver.stop()
    failing = sink.latest(
        "oversight_compliance_failing", integration="portal", policy="https_required"
    )
    assert failing is not None and failing.value == 1.0 and failing.kind == "gauge"
    assert set(failing.attributes) >= {"pattern", "integration", "scope", "policy"}
    assert "status" not in failing.attributes  # present while failing, absent otherwise
    policies = {p.attributes["policy"] for p in sink.points("oversight_compliance_failing")}
    assert policies == {"https_required", "security_headers"}  # the passing ones have no series
    score = sink.latest("oversight_compliance_score_ratio", pattern="p")
    assert score is not None and score.unit == "1" and 0 <= score.value < 1
    checks = sink.latest("oversight_compliance_checks", pattern="p", status="fail")
    assert checks is not None and checks.value == 2.0  # https_required, security_headers
