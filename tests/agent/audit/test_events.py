"""The running agent: compliance in its API and metrics, a verifiable audit trail of what
happened, only masked card numbers anywhere, and a full disk that does not stop probing."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from agent.audit import AuditPathError
from tests.conftest import StartAgent, sample
from tests.peers.http_servers import Running
from tests.peers.partner import CARD, TOKEN, config
from tests.peers.tls_servers import TlsPki

DIGITS = CARD.replace(" ", "")


def agent_config(
    base: str, pki: TlsPki, audit: Path, interval: str = "60s", timeout: str = "2s"
) -> str:
    tls = f"tls: {{ca_file: {pki.ca_file}}}"
    return config(
        f"""      partner:
        scope: external
        compliance: {{auth_required: {{probes: [account]}}}}
        probes:
          customers:
            interval: {interval}
            timeout: {timeout}
            http: {{url: "{base}/leak", {tls}}}
          account:
            interval: 60s
            timeout: 2s
            http: {{url: "{base}/open", bearer_token: {TOKEN}, {tls}}}
""",
        top=f"audit: {{path: {audit}}}\n",
    )


async def until(check, timeout: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def records(path: Path) -> list[dict]:  # type: ignore[type-arg]
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def test_compliance_and_the_audit_trail_end_to_end(
    start_agent: StartAgent,
    secure_partner: Running,
    pki: TlsPki,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    audit = tmp_path / "audit" / "audit.jsonl"
    agent = await start_agent(agent_config(secure_partner.base, pki, audit))
    await agent.wait_ready()
    await until(lambda: len([r for r in records(audit) if r["type"] == "security_event"]) == 2)

    status, body = await agent.get("/api/v1/compliance")
    assert status == 200
    document = json.loads(body)
    failing = {(f["policy"], f["reason"]) for f in document["failing"]}
    assert failing == {
        (
            "auth_required",
            "account.auth_check: a GET without credentials was answered 200: authentication "
            "is not enforced",
        ),
        (
            "no_sensitive_data",
            "customers: the response carries sensitive data: card number **** **** **** 1111",
        ),
    }
    checks = document["patterns"]["p"]["integrations"]["partner"]["checks"]
    assert checks["tls_min_version"]["status"] == "pass"
    assert checks["no_sensitive_data"]["what_to_do"].startswith("Treat as a data leak")
    assert document["overall"]["failed"] == 2 and document["overall"]["score"] is not None

    status, body = await agent.get("/api/v1/audit?since=1h&type=security_event")
    events = json.loads(body)["events"]
    assert sorted((e["subject"], e["details"]["kind"]) for e in events) == [
        ("p/partner", "auth_not_enforced"),
        ("p/partner", "sensitive_data"),
    ]
    leak = next(e for e in events if e["details"]["kind"] == "sensitive_data")
    assert leak["details"]["evidence"] == "card number **** **** **** 1111"
    assert (await agent.get("/api/v1/audit?since=yesterday"))[0] == 400

    m = await agent.metrics()
    # a series per failing check, none for a passing one (tls_min_version passes)
    partner = {"pattern": "p", "integration": "partner", "scope": "external"}
    failing_checks = {
        dict(labels)["policy"]: value
        for (name, labels), value in m.items()
        if name == "oversight_compliance_failing" and set(partner.items()) <= labels
    }
    assert failing_checks == {"auth_required": 1.0, "no_sensitive_data": 1.0}
    assert len([name for name, _ in m if name == "oversight_compliance_failing"]) == 2
    assert sample(m, "oversight_compliance_checks", pattern="p", status="fail") == 2.0
    assert 0 < sample(m, "oversight_compliance_score_ratio", pattern="p") < 1  # type: ignore[operator]
    assert sample(m, "oversight_compliance_overall_score_ratio") is not None
    assert sample(m, "oversight_audit_events_total", type="security_event") == 2.0
    assert sample(m, "oversight_audit_write_failures_total") == 0.0
    assert sample(m, "probe_success", probe="account.auth_check") == 0.0  # shown, not hidden

    status, body = await agent.get("/api/v1/status")
    summary = json.loads(body)["compliance"]
    assert summary["failed"] == 2
    partner = json.loads(body)["patterns"]["p"]["integrations"]["partner"]
    assert sorted(partner["compliance_failing"]) == ["auth_required", "no_sensitive_data"]
    assert partner["state"] == "ok"  # an unenforced auth check is not an outage

    # Reload with one more probe: the audit log says what changed.
    path = agent.app.config_path
    text = path.read_text()
    path.write_text(
        text.replace("account:\n            interval: 60s", "account:\n            interval: 30s")
    )
    assert (await agent.post("/-/reload"))[0] == 200
    await until(lambda: any(r["type"] == "config_reloaded" for r in records(audit)))
    reloaded = next(r for r in records(audit) if r["type"] == "config_reloaded")
    assert reloaded["details"]["changed"] == ["p/partner"]
    assert reloaded["details"]["added"] == [] and reloaded["details"]["removed"] == []

    await agent.app.stop()
    types = [r["type"] for r in records(audit)]
    assert types[:2] == ["agent_started", "config_loaded"] and types[-1] == "agent_stopped"
    assert {"certificate_seen", "compliance_changed", "state_changed"} <= set(types)
    from agent.cli import main

    assert main(["audit", "verify", str(audit)]) == 0
    everything = audit.read_text() + body + caplog.text + json.dumps(document)
    assert DIGITS not in everything.replace(" ", "") and CARD not in everything
    assert "**** **** **** 1111" in audit.read_text()


async def test_a_full_disk_keeps_probing_counts_and_retries(
    start_agent: StartAgent, secure_partner: Running, pki: TlsPki, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    agent = await start_agent(agent_config(secure_partner.base, pki, audit, "200ms", "150ms"))
    await agent.wait_ready()
    await until(lambda: any(r["type"] == "security_event" for r in records(audit)))
    good = audit.read_bytes()
    audit.unlink()
    audit.symlink_to("/dev/full")  # every write now fails with ENOSPC
    assert (await agent.post("/-/reload"))[0] == 200  # an event to write
    runs = agent.app.store.totals["p/partner/customers"].runs
    await until(lambda: agent.app.audit.stats.write_failures >= 2)  # type: ignore[union-attr]
    await until(lambda: agent.app.store.totals["p/partner/customers"].runs >= runs + 5)
    m = await agent.metrics()
    assert sample(m, "oversight_audit_write_failures_total") >= 2  # type: ignore[operator]
    assert sample(m, "oversight_audit_pending_events") >= 1  # type: ignore[operator]
    assert sample(m, "oversight_agent_ready") == 0.0
    status, reason = await agent.get("/readyz")  # readiness says so, and why
    assert status == 503 and "audit trail not written" in reason, reason
    assert "No space left on device" in reason and str(tmp_path) not in reason
    assert (await agent.get("/api/v1/audit"))[0] == 200  # a device is not read
    audit.unlink()
    audit.write_bytes(good)  # space again: the queued events are written, chain unbroken
    await until(lambda: agent.app.audit.stats.pending == 0)  # type: ignore[union-attr]
    assert (await agent.get("/readyz")) == (200, "ready\n")
    assert "config_reloaded" in [r["type"] for r in records(audit)]
    from agent.cli import main

    assert main(["audit", "verify", str(audit)]) == 0


async def test_an_agent_whose_audit_disk_is_full_from_the_start_still_probes(
    start_agent: StartAgent, secure_partner: Running, pki: TlsPki, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.symlink_to("/dev/full")  # opens fine; every write fails with ENOSPC
    agent = await start_agent(agent_config(secure_partner.base, pki, audit, "200ms", "150ms"))
    totals = agent.app.store.totals
    await until(lambda: "p/partner/customers" in totals)
    await until(lambda: totals["p/partner/customers"].runs >= 5)
    await until(lambda: agent.app.audit.stats.write_failures >= 1)  # type: ignore[union-attr]
    await until(lambda: not agent.app._first_round)
    status, reason = await agent.get("/readyz")  # probing, but not ready: the trail is not kept
    assert status == 503 and reason.startswith("audit trail not written"), reason
    m = await agent.metrics()
    assert sample(m, "oversight_audit_write_failures_total") >= 1  # type: ignore[operator]
    assert sample(m, "oversight_audit_events_total", type="security_event") == 2.0
    assert sample(m, "oversight_compliance_checks", pattern="p", status="fail") == 2.0


def test_an_unwritable_audit_path_stops_the_agent_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.app import App
    from agent.cli import main

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    path = tmp_path / "oversight.yaml"
    path.write_text(
        config(
            "      x:\n        scope: internal\n        probes:\n"
            "          t: {tcp: {address: '127.0.0.1:1'}}\n",
            top=f"audit: {{path: {blocker}/audit.jsonl}}\n",
        )
    )
    with pytest.raises(AuditPathError, match="cannot write the audit log"):
        App(path)
    assert main(["run", "-c", str(path), "--listen", "127.0.0.1:0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the audit log {blocker}/audit.jsonl: ")
