"""Capacity end to end: probes' readings become oversight_capacity_* series and states."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import trustme
from aiohttp import web

from tests.conftest import StartAgent, sample
from tests.peers.http_servers import serve

CONFIG = """\
patterns:
  bill_pay:
    owner: team-payments
    integrations:
      payment_workflow:
        scope: internal
        probes:
          pool:
            interval: 60s
            timeout: 2s
            scrape:
              url: "{metrics}"
              resources:
                pool:db:
                  used: db_pool_in_use
                  limit: db_pool_max
            thresholds:
              utilisation: {{warning: 80%, critical: 95%}}
          node:
            interval: 60s
            timeout: 2s
            host: {{resources: [memory], disks: ["{disk}"]}}
      payment_processor:
        scope: external
        probes:
          client_cert:
            interval: 60s
            timeout: 2s
            credential: {{cert_file: "{cert}"}}
            thresholds:
              credential_expiry: {{warning: 30d, critical: 7d}}
"""


async def test_capacity_series_and_the_states_they_drive(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text="db_pool_in_use 17\ndb_pool_max 20\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    ca = trustme.CA()
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=20)
    cert = tmp_path / "client.pem"
    ca.issue_cert("agent@bank.example", not_after=expires).cert_chain_pems[0].write_to_path(
        str(cert)
    )
    async with serve(app) as running:
        agent = await start_agent(
            CONFIG.format(metrics=running.url("/metrics"), disk=tmp_path, cert=cert)
        )
        await agent.wait_ready()
        m = await agent.metrics()
    pool = {"integration": "payment_workflow", "probe": "pool", "resource": "pool:db"}
    assert sample(m, "oversight_capacity_used", **pool, unit="count") == 17
    assert sample(m, "oversight_capacity_limit", **pool, unit="count") == 20
    assert sample(m, "oversight_capacity_utilisation_ratio", **pool) == 0.85
    level = sample(
        m, "oversight_probe_utilisation_threshold_ratio", probe="pool", severity="warning"
    )
    assert level == 0.8
    node = {"integration": "payment_workflow", "probe": "node"}
    disk = sample(m, "oversight_capacity_limit", **node, resource=f"disk:{tmp_path}")
    assert disk is not None and disk > 0
    assert sample(m, "oversight_capacity_used", **node, resource="memory", unit="bytes") > 0
    assert sample(m, "oversight_capacity_used", **node, resource="cpu") is None  # not asked for
    workflow = {"integration": "payment_workflow"}
    assert sample(m, "oversight_integration_state", **workflow, state="degraded") == 1.0
    client = {"integration": "payment_processor", "probe": "client_cert"}
    assert sample(m, "oversight_credential_expiry_timestamp_seconds", **client) == (
        expires.timestamp()
    )
    assert sample(m, "oversight_capacity_utilisation_ratio", **client) is not None
    processor = {"integration": "payment_processor"}
    assert sample(m, "oversight_integration_state", **processor, state="degraded") == 1.0
    states = agent.app.tracker.statuses()
    assert "client_cert: credential_expiry warning (" in states["bill_pay/payment_processor"].reason
    assert (
        "pool: utilisation:pool:db warning (85% vs 80%)"
        in states["bill_pay/payment_workflow"].reason
    )
