"""The API's edges: every query parameter checked (a 400 with a sentence in JSON, never
invalid JSON), and no answer says where a file sits on the agent's disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import StartAgent


def config(audit: Path, closed_port: str) -> str:
    return f"""\
audit: {{path: {audit}}}
patterns:
  p:
    owner: team
    integrations:
      partner:
        scope: internal
        probes:
          port: {{interval: 60s, timeout: 1s, tcp: {{address: "{closed_port}"}}}}
"""


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("since=nan", "bad query: 'nan' is not a time: it must be a finite number"),
        ("since=inf", "bad query: 'inf' is not a time: it must be a finite number"),
        ("until=-Infinity", "bad query: '-Infinity' is not a time: it must be a finite number"),
        ("since=" + "9" * 400 + "s", "is not a time: it must be a finite number"),
        ("since=yesterday", "bad query: 'yesterday' is not a period (24h), a time"),
        ("limit=-5", "bad query: limit must be a whole number from 1 to 10000, not '-5'"),
        ("limit=0", "bad query: limit must be a whole number from 1 to 10000, not '0'"),
        ("limit=nan", "bad query: limit must be a whole number from 1 to 10000, not 'nan'"),
        ("limit=2.5", "bad query: limit must be a whole number from 1 to 10000, not '2.5'"),
        ("limit=10001", "bad query: limit must be a whole number from 1 to 10000, not '10001'"),
        ("since=1h&until=2h", "bad query: since is after until"),
    ],
)
async def test_a_bad_query_is_a_400_with_a_sentence_in_valid_json(
    start_agent: StartAgent, tmp_path: Path, closed_port: str, query: str, error: str
) -> None:
    agent = await start_agent(config(tmp_path / "audit.jsonl", closed_port))
    status, body = await agent.get(f"/api/v1/audit?{query}")
    assert status == 400
    document = json.loads(body, parse_constant=pytest.fail)  # NaN/Infinity are not JSON
    assert set(document) == {"error"}
    assert error in document["error"]


async def test_answers_name_files_not_where_they_sit(
    start_agent: StartAgent, tmp_path: Path, closed_port: str
) -> None:
    agent = await start_agent(config(tmp_path / "trail" / "audit.jsonl", closed_port))
    await agent.wait_ready()
    status, body = await agent.get("/api/v1/audit?since=1h&limit=5")
    assert status == 200
    audit = json.loads(body, parse_constant=pytest.fail)
    assert audit["file"] == "audit.jsonl" and "path" not in audit
    assert 1 <= len(audit["events"]) <= 5
    _, body = await agent.get("/api/v1/status")
    assert json.loads(body)["agent"]["config"]["source"] == "oversight.yaml"
    for path in ("/api/v1/status", "/api/v1/compliance", "/"):
        _, text = await agent.get(path)
        assert str(tmp_path) not in text, path
    # the trail's own records are served as written (sealed; rewriting them would break the
    # chain): config events name the config file as the agent was given it
    assert {e["type"] for e in audit["events"] if str(tmp_path) in json.dumps(e)} <= {
        "config_loaded"
    }
