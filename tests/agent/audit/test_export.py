"""Audit records read back from a log store's export: both shapes, many agents in any order,
duplicates, a chain started anew; what was changed, removed or forged is found."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.audit import GENESIS, Record, seal
from agent.audit.export import is_export, verify_export
from agent.cli import main
from exporters.otlp.logs import attributes


def chain(count: int, tag: str = "", hour: int = 0) -> list[Record]:
    records, prev = [], GENESIS
    for seq in range(count):
        moment = f"2026-01-01T{hour:02d}:00:{seq:02d}.000Z"
        record = seal(seq, moment, "state_changed", f"p/i{tag}", {"n": seq}, prev)
        records.append(record)
        prev = record.hash
    return records


def otlp_line(records: list[Record], agent: str) -> str:
    """One OTLP/JSON export request, as the Collector's file exporter writes a line."""

    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}

    log_records = [
        {
            "timeUnixNano": "1767225600000000000",
            "severityText": "INFO",
            "body": {"stringValue": f"{r.type} {r.subject}"},
            "attributes": [{"key": k, "value": value(v)} for k, v in attributes(r, agent).items()],
        }
        for r in records
    ]
    resource = {"attributes": [{"key": "service.instance.id", "value": {"stringValue": agent}}]}
    request = {
        "resourceLogs": [
            {
                "resource": resource,
                "scopeLogs": [{"scope": {"name": "oversight.audit"}, "logRecords": log_records}],
            }
        ]
    }
    return json.dumps(request) + "\n"


def flat_line(record: Record, agent: str) -> str:
    """One record per line with its attributes as a mapping, as log stores export them."""
    return json.dumps({"body": record.type, "attributes": attributes(record, agent)}) + "\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_text(text)
    return path


def test_two_agents_interleaved_out_of_order_with_duplicates(tmp_path: Path) -> None:
    a, b = chain(6), chain(4, tag="b")
    lines = [otlp_line(a[3:], "p0"), otlp_line(b[:2], "p1"), otlp_line(a[:3], "p0")]
    lines += [otlp_line(a[2:4], "p0"), otlp_line(b[2:], "p1")]  # a retried export: twice
    verdict = verify_export([write(tmp_path, "".join(lines))])
    assert verdict.problems == ()
    assert verdict.ok and verdict.records == 10
    assert verdict.chains == {"p0": [(0, 5)], "p1": [(0, 3)]}


def test_one_record_per_line_with_attributes(tmp_path: Path) -> None:
    records = chain(5)
    path = write(tmp_path, "".join(flat_line(r, "p0") for r in reversed(records)))
    assert is_export(path)
    verdict = verify_export([path])
    assert verdict.ok and verdict.chains == {"p0": [(0, 4)]}


def test_the_store_may_begin_anywhere_and_a_lost_volume_starts_a_new_chain(
    tmp_path: Path,
) -> None:
    """Retention cut the first records; then the agent lost its volume and began again."""
    old = chain(8)[3:]
    new = chain(3, tag="new", hour=1)
    verdict = verify_export([write(tmp_path, otlp_line(old, "p0") + otlp_line(new, "p0"))])
    assert verdict.problems == ()
    assert verdict.chains == {"p0": [(3, 7), (0, 2)]}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("edit", "record 2 of agent p0 was modified"),
        ("remove", "records of agent p0 are missing before record 3"),
        ("forge", "two records of agent p0 follow record 1"),
        ("renumber", "record 7 of agent p0 follows record 2"),
    ],
)
def test_what_was_changed_is_found(tmp_path: Path, change: str, problem: str) -> None:
    records = chain(5)
    if change == "edit":
        records[2] = Record(**{**_fields(records[2]), "subject": "p/elsewhere"})
    elif change == "remove":
        del records[2]
    elif change == "forge":
        records.append(seal(2, records[2].time, "state_changed", "p/x", {}, records[1].hash))
    elif change == "renumber":  # record 3 sealed again as 7, and record 4 chained to it
        third, fourth = records[3], records[4]
        records[3] = seal(7, third.time, third.type, third.subject, third.details, third.prev)
        records[4] = seal(
            4, fourth.time, fourth.type, fourth.subject, fourth.details, records[3].hash
        )
    verdict = verify_export([write(tmp_path, otlp_line(records, "p0"))])
    assert not verdict.ok
    assert any(problem in found for found in verdict.problems), verdict.problems


def _fields(record: Record) -> dict[str, Any]:
    return {name: getattr(record, name) for name in Record.__dataclass_fields__}


def test_the_command_reads_an_export_and_picks_an_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = otlp_line(chain(3), "p0") + otlp_line(chain(2, tag="b"), "p1")
    path = write(tmp_path, text)
    assert main(["audit", "verify", str(path)]) == 0
    assert capsys.readouterr().out.startswith(
        "ok: 5 records of 2 agent(s) in the export (agent p0: 0..2; agent p1: 0..1)"
    )
    assert main(["audit", "verify", "--agent", "p1", str(path)]) == 0
    assert "ok: 2 records of 1 agent(s)" in capsys.readouterr().out
    assert main(["audit", "verify", "--agent", "p9", str(path)]) == 1
    assert "no audit record of agent 'p9' in the export" in capsys.readouterr().err


def test_the_local_file_is_not_taken_for_an_export(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(r.line() for r in chain(2)))
    assert not is_export(path)
