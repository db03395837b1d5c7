"""The /metrics renderer against prometheus_client's own encoders, over the same families.

One snapshot holds every kind of sample the agent exports: counters, gauges, a histogram
with an exemplar, *_info families, odd label values (quotes, backslashes, new lines,
non-ASCII), constant labels, compliance checks and audit counters. The renderer's text must
equal ``generate_latest`` line for line, and its OpenMetrics the OpenMetrics encoder's: the
same HELP and TYPE lines, samples, values, escapes, exemplars and ``# EOF``, in the same order.
Only the order of labels inside braces may differ (prometheus_client sorts them; no parser
cares), so each sample line is compared with its labels sorted.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
import trustme
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from agent import vocabulary as v
from agent.app import App
from agent.results import (
    Breach,
    Capacity,
    Compliance,
    Finding,
    Labelled,
    Reason,
    Result,
    Severity,
    StepResult,
)
from agent.snapshot import Snapshot
from agent.vocabulary import Detail, Family
from exporters.prometheus.collector import SnapshotCollector
from exporters.prometheus.exposition import Exposition

ODD = 'say "hi" \\ back\nslash \u2013 \u00fcn\u00efcode'

CONFIG = """\
agent:
  name: agent-1
  labels: {{cluster: 'eu "west"'}}
  state: {{failures_to_down: 1}}
audit: {{path: {audit}}}
patterns:
  bill_pay:
    owner: {owner}
    integrations:
      processor:
        scope: external
        criticality: critical
        runbook: https://runbooks.bank.test/processor?x="1"
        depends_on: [account/ledger]
        probes:
          health:
            http: {{url: "https://processor.bank.test/health"}}
            histogram: true
            thresholds: {{latency: {{warning: 300ms, critical: 1s}}, cert_expiry: {{warning: 30d}}}}
          node:
            host: {{}}
            thresholds: {{utilisation: {{warning: 80%}}}}
          client-cert:
            credential: {{cert_file: {cert}}}
            thresholds: {{credential_expiry: {{critical: 7d}}}}
  account:
    integrations:
      ledger:
        scope: internal
        probes:
          dns:
            dns: {{query_name: ledger.bank.test, server: "127.0.0.1:53"}}
          port:
            tcp: {{address: "ledger.bank.test:5432"}}
          transfer:
            retries: 1
            flow:
              steps:
                - {{name: open, url: "http://ledger.bank.test/open", capture: {{id: {{json: id}}}}}}
                - name: close
                  integration: bill_pay/processor
                  url: "http://processor.bank.test/close/${{flow.id}}"
          disk:
            command: {{argv: [/usr/lib/nagios/plugins/check_disk, -w, 10%]}}
"""


def _results(now: float) -> list[Result]:
    return [
        Result(
            probe_id="bill_pay/processor/health",
            started=now,
            duration=0.42,
            success=True,
            phases=(("resolve", 0.001), ("connect", 0.01), ("tls", 0.02), ("processing", 0.3)),
            values=(
                (v.HTTP_STATUS_CODE, 200),
                (v.HTTP_VERSION, 1.1),
                (v.HTTP_REDIRECTS, 0),
                (v.HTTP_CONTENT_LENGTH, -1),
                (v.HTTP_UNCOMPRESSED_BODY_LENGTH, 1234),
                (v.SSL_EARLIEST_CERT_EXPIRY, now + 30 * 86400),
                (v.SSL_LAST_CHAIN_EXPIRY, now + 90 * 86400),
            ),
            info=(
                (Detail.TLS_VERSION, "TLS 1.3"),
                (Detail.TLS_CIPHER, "TLS_AES_256_GCM_SHA384"),
                (Detail.SSL_LEAF_FINGERPRINT, "ab" * 32),
                (Detail.SSL_LEAF_SUBJECT, ODD),
                (Detail.SSL_LEAF_ISSUER, "CN=Bank CA,O=Bank"),
                (Detail.SSL_LEAF_SANS, "processor.bank.test"),
                (Detail.SSL_LEAF_SERIAL, "1f"),
            ),
            breaches=(Breach("latency", Severity.WARNING, 0.42, 0.3),),
            trace_id="0af7651916cd43dd8448eb211c80319c",
            findings=(Finding("no_sensitive_data", Compliance.FAIL, ODD, "card"),),
        ),
        Result(
            probe_id="bill_pay/processor/node",
            started=now,
            duration=0.003,
            success=False,
            reason=Reason.THRESHOLD,
            message=ODD,
            capacity=(Capacity("memory", 8e9, 16e9, "bytes"), Capacity("open_fds", 120, None)),
        ),
        Result(
            probe_id="bill_pay/processor/client-cert",
            started=now,
            duration=0.0001,
            success=True,
            values=((v.CREDENTIAL_EXPIRY, now + 20 * 86400),),
            capacity=(Capacity("credential:client-cert", 70 * 86400, 90 * 86400, "seconds"),),
        ),
        Result(
            probe_id="account/ledger/dns",
            started=now,
            duration=1e-7,
            success=True,
            phases=(("resolve", 1e-7),),
            values=(
                (v.DNS_ANSWER_RRS, 2),
                (v.DNS_AUTHORITY_RRS, 0),
                (v.DNS_ADDITIONAL_RRS, 1),
                (v.DNS_SERIAL, 2024060101),
            ),
        ),
        Result(
            probe_id="account/ledger/port",
            started=now,
            duration=2.0,
            success=False,
            reason=Reason.TIMEOUT,
            message="no answer within 2s (during connect)",
            phases=(("resolve", 0.01), ("connect", 1.99)),
        ),
        Result(
            probe_id="account/ledger/transfer",
            started=now,
            duration=0.31,
            success=False,
            reason=Reason.STATUS_MISMATCH,
            message="step close (bill_pay/processor): [STATUS] (401) == 200",
            attempts=2,
            steps=(
                StepResult("open", "account/ledger", True, 0.0, 0.1, status=200),
                StepResult("close", "bill_pay/processor", False, 0.1, 0.2, Reason.STATUS_MISMATCH),
            ),
            series=(
                Labelled(v.FLOW_STEP_SUCCESS, ("open", "account/ledger"), 1.0),
                Labelled(v.FLOW_STEP_DURATION, ("open",), 0.1),
                Labelled(v.FLOW_STEP_SUCCESS, ("close", "bill_pay/processor"), 0.0),
                Labelled(v.FLOW_STEP_DURATION, ("close",), 0.2),
            ),
            cause="bill_pay/processor",
        ),
        Result(
            probe_id="account/ledger/disk",
            started=now,
            duration=0.02,
            success=True,
            message="DISK WARNING - free space: / 9%",
            values=((v.COMMAND_STATUS, 1),),
            breaches=(Breach("check", Severity.WARNING, 1.0, 1.0),),
            series=(Labelled(v.COMMAND_PERFDATA, ("/", "bytes"), 9e9),),
        ),
    ]


@pytest.fixture
def snapshot(tmp_path: Path) -> Snapshot:
    path = tmp_path / "oversight.yaml"
    owner = '"' + ODD.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'
    cert = tmp_path / "client.pem"
    trustme.CA().issue_cert("agent@bank.test").cert_chain_pems[0].write_to_path(str(cert))
    text = CONFIG.format(audit=tmp_path / "audit.jsonl", owner=owner, cert=cert)
    path.write_text(text, encoding="utf-8")
    app = App(path)
    now = time.time()
    for result in _results(now):
        app.store.record(result, app.plan.probes[result.probe_id].histogram)
        app.tracker.observe(result, now)
        app.compliance.observe(result, now)
    app.compliance.sweep(now)
    assert app.audit is not None
    app.audit.emit("config_loaded", str(path), digest=app.plan.digest)
    snap = app.snapshot()
    failures = {("otlp", "metrics"): 0, ("otlp", "traces"): 3}
    dropped = {("otlp", "traces"): 5}
    return replace(
        snap, agent=replace(snap.agent, export_failures=failures, export_dropped=dropped)
    )


def _labels_sorted(line: str) -> str:
    """A sample line with its label pairs in name order; escapes are kept as written."""
    if line.startswith("#") or "{" not in line:
        return line
    name, rest = line.split("{", 1)
    pairs, pair, quoted, escaped = [], "", False, False
    for index, char in enumerate(rest):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char in ",}" and not quoted:
            pairs.append(pair)
            pair = ""
            if char == "}":
                return f"{name}{{{','.join(sorted(pairs))}}}{rest[index + 1 :]}"
            continue
        pair += char
    raise AssertionError(f"unterminated labels: {line!r}")


def _prometheus_client(snap: Snapshot, openmetrics: bool) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snap))  # type: ignore[arg-type]
    return (generate_openmetrics if openmetrics else generate_latest)(registry)


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_the_renderer_writes_what_prometheus_client_writes(
    snapshot: Snapshot, openmetrics: bool
) -> None:
    renderer = Exposition()
    theirs = [
        _labels_sorted(line)
        for line in _prometheus_client(snapshot, openmetrics).decode().splitlines()
    ]
    for scrape in range(2):  # the second scrape reads the caches
        ours = renderer.render(snapshot, openmetrics).decode()
        assert ours.endswith("\n")
        assert [_labels_sorted(line) for line in ours.splitlines()] == theirs, scrape


def test_odd_values_exemplars_and_the_end_marker(snapshot: Snapshot) -> None:
    text = Exposition().render(snapshot, openmetrics=True)
    lines = text.decode().splitlines()
    assert lines[-1] == "# EOF"
    escaped = ODD.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    assert any(f'subject="{escaped}"' in line for line in lines)
    assert any(f'owner="{escaped}"' in line for line in lines)
    exemplar = '# {trace_id="0af7651916cd43dd8448eb211c80319c"} 0.42'
    assert any(
        line.startswith("oversight_probe_duration_seconds_bucket") and exemplar in line
        for line in lines
    )


def _families() -> list[Family]:
    return [f for f in vars(v).values() if isinstance(f, Family)]


def test_every_declared_family_appears(snapshot: Snapshot) -> None:
    """A family declared in the vocabulary but never rendered is a gap in some dashboard."""
    text = Exposition().render(snapshot).decode()
    absent = {
        f.name
        for f in _families()
        if f"# TYPE {f.name}{'_total' if f.type == 'counter' else ''} " not in text
    }
    assert absent == set()
    assert 'root_cause="account/ledger"' in text  # the processor is impacted, not down


def test_a_scrape_redraws_what_changed_and_forgets_what_left(snapshot: Snapshot) -> None:
    renderer = Exposition()
    before = renderer.render(snapshot).decode()
    assert (
        'probe_success{pattern="account",integration="ledger",scope="internal",probe="dns"'
        in before
    )
    health = snapshot.latest["bill_pay/processor/health"]
    later = replace(health, started=health.started + 30, success=False, reason=Reason.TIMEOUT)
    latest = dict(snapshot.latest) | {later.probe_id: later}
    probes = {k: p for k, p in snapshot.plan.probes.items() if not k.startswith("account/")}
    plan = replace(snapshot.plan, probes=probes)
    after = renderer.render(replace(snapshot, latest=latest, plan=plan)).decode()
    theirs = _prometheus_client(replace(snapshot, latest=latest, plan=plan), False).decode()
    assert sorted(map(_labels_sorted, after.splitlines())) == sorted(
        map(_labels_sorted, theirs.splitlines())
    )
    assert 'integration="ledger",scope="internal",probe="dns"' not in after
    success = [line for line in after.splitlines() if line.startswith("probe_success{")]
    assert any('probe="health"' in line and line.endswith(" 0.0") for line in success)


def test_a_flow_and_a_command_add_a_few_series_each(snapshot: Snapshot) -> None:
    """Per flow step: success, duration and a failure counter; per perfdata label one series;
    the attempts of a probe with retries."""
    text = Exposition().render(snapshot).decode()
    probe = 'pattern="account",integration="ledger",scope="internal",probe="{}"'
    const = 'cluster="eu \\"west\\"",agent="agent-1"'
    flow, disk = probe.format("transfer"), probe.format("disk")
    mine = sorted(
        line
        for line in text.splitlines()
        if line.startswith(("oversight_flow_", "oversight_command_", "oversight_probe_attempts"))
    )
    assert mine == sorted(
        [
            f'oversight_command_perfdata{{{disk},label="/",unit="bytes",{const}}} 9e+09',
            f"oversight_command_status{{{disk},{const}}} 1.0",
            f'oversight_flow_step_duration_seconds{{{flow},step="close",{const}}} 0.2',
            f'oversight_flow_step_duration_seconds{{{flow},step="open",{const}}} 0.1',
            f'oversight_flow_step_failures_total{{{flow},step="close",{const}}} 1.0',
            f'oversight_flow_step_failures_total{{{flow},step="open",{const}}} 0.0',
            f'oversight_flow_step_success{{{flow},step="close",'
            f'step_integration="bill_pay/processor",{const}}} 0.0',
            f'oversight_flow_step_success{{{flow},step="open",'
            f'step_integration="account/ledger",{const}}} 1.0',
            f"oversight_probe_attempts{{{flow},{const}}} 2.0",
        ]
    )
