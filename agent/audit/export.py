"""Audit records read back from a log store's JSON Lines export, and their chains verified.

The agent ships every audit record as an OpenTelemetry log record whose attributes carry the
chain fields (exporters/otlp/logs.py). Two shapes of export are read, line by line:

- **OTLP/JSON**, one export request per line (``{"resourceLogs": [...]}``): what the
  OpenTelemetry Collector's ``file`` exporter writes, attributes as ``{"key", "value"}`` lists;
- **one record per line**, a JSON object with the attributes as a mapping under
  ``attributes`` (or at the top level), as log stores export them; the agent's name may also
  come from ``resource`` (``service.instance.id``).

A log store may hold the records of many agents, in any order, some twice (a retried export):
they are grouped by ``oversight.agent``, duplicates dropped, and each agent's records linked
by hash (``prev`` -> ``hash``), so an agent that lost its volume and started a new chain shows
two chains, both checked. Where a record's ``prev`` names no record of the export, records are
missing before it: that is a problem, except for a chain's first record (``prev`` all zeros)
and for the agent's oldest record in the export (the store's retention may begin anywhere).
Unlike the local file, an export has no head marker: records cut from its end are not seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.audit.chain import GENESIS, digest

PREFIX = "oversight.audit."
AGENT = "oversight.agent"
FIELDS = ("seq", "time", "type", "subject", "details", "prev", "hash")


@dataclass(frozen=True, slots=True)
class Shipped:
    """One audit record as read from an export, and where it was read."""

    agent: str
    seq: int
    body: dict[str, Any]  # the fields the hash covers: seq, time, type, subject, details, prev
    hash: str
    where: str


def is_export(path: Path) -> bool:
    """Whether ``path`` holds a log store's export rather than the agent's own audit file."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip():
                    first = json.loads(line)
                    return isinstance(first, dict) and (
                        "resourceLogs" in first or PREFIX + "hash" in _attributes(first)
                    )
    except (OSError, ValueError):
        return False
    return False


def read_export(paths: Iterable[Path]) -> tuple[list[Shipped], list[str]]:
    """Every audit record in the files, and a problem for each line that cannot be read."""
    records: list[Shipped] = []
    problems: list[str] = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                found = list(_records(json.loads(line), where))
            except (ValueError, KeyError, TypeError, AttributeError):
                problems.append(f"{where}: not an exported audit record")
                continue
            records += found
    return records, problems


def _records(line: Any, where: str) -> Iterator[Shipped]:
    """The audit records of one line of either shape (log records of other kinds skipped)."""
    if "resourceLogs" in line:
        for resource_logs in line["resourceLogs"]:
            resource = _pairs(resource_logs.get("resource", {}).get("attributes", []))
            for scope_logs in resource_logs.get("scopeLogs", []):
                for index, record in enumerate(scope_logs.get("logRecords", [])):
                    attributes = _pairs(record.get("attributes", []))
                    if PREFIX + "hash" in attributes:
                        yield _shipped(attributes, resource, f"{where} (record {index + 1})")
        return
    attributes = _attributes(line)
    if PREFIX + "hash" not in attributes:
        raise ValueError("no audit record")
    resource = line.get("resource") if isinstance(line.get("resource"), dict) else {}
    yield _shipped(attributes, resource, where)


def _attributes(line: dict[str, Any]) -> dict[str, Any]:
    nested = line.get("attributes")
    return nested if isinstance(nested, dict) else line


def _pairs(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP/JSON ``[{"key": k, "value": {"stringValue": v}}]`` -> ``{k: v}`` (64-bit integers
    are strings in OTLP/JSON; they are read back as written)."""
    out = {}
    for pair in pairs:
        value = pair.get("value", {})
        out[pair["key"]] = next(iter(value.values())) if value else None
    return out


def _shipped(attributes: dict[str, Any], resource: dict[str, Any], where: str) -> Shipped:
    fields = {name: attributes[PREFIX + name] for name in FIELDS}
    details = fields["details"]
    body = {
        "seq": int(fields["seq"]),
        "time": str(fields["time"]),
        "type": str(fields["type"]),
        "subject": str(fields["subject"]),
        "details": json.loads(details) if isinstance(details, str) else details,
        "prev": str(fields["prev"]),
    }
    agent = attributes.get(AGENT) or resource.get("service.instance.id") or ""
    return Shipped(str(agent), body["seq"], body, str(fields["hash"]), where)


@dataclass(frozen=True, slots=True)
class ExportVerdict:
    ok: bool
    records: int
    problems: tuple[str, ...]
    chains: dict[str, list[tuple[int, int]]]  # agent -> (first seq, last seq) of each chain


def verify_export(paths: Iterable[Path], agent: str | None = None) -> ExportVerdict:
    """Verify the chains of every agent in the export (or of ``agent`` only)."""
    shipped, problems = read_export(paths)
    by_agent: dict[str, dict[str, Shipped]] = {}
    for record in shipped:
        if agent is not None and record.agent != agent:
            continue
        mine = by_agent.setdefault(record.agent, {})
        seen = mine.get(record.hash)
        if seen is not None and seen.body != record.body:
            problems.append(f"{record.where}: two records claim hash {record.hash[:12]}")
        mine.setdefault(record.hash, record)  # the same record twice: a retried export
    if agent is not None and agent not in by_agent:
        problems.append(f"no audit record of agent {agent!r} in the export")
    chains: dict[str, list[tuple[int, int]]] = {}
    count = 0
    for name, records in sorted(by_agent.items()):
        count += len(records)
        chains[name], found = _verify_agent(name or "(no agent)", records)
        problems += found
    return ExportVerdict(not problems, count, tuple(problems), chains)


def _verify_agent(
    name: str, records: dict[str, Shipped]
) -> tuple[list[tuple[int, int]], list[str]]:
    """Link one agent's records by hash into chains; say what is modified, forked or missing."""
    problems: list[str] = []
    following: dict[str, list[Shipped]] = {}
    for record in records.values():
        if digest(record.body) != record.hash:
            problems.append(f"{record.where}: record {record.seq} of agent {name} was modified")
        following.setdefault(str(record.body["prev"]), []).append(record)
    starts = sorted(
        (r for r in records.values() if r.body["prev"] == GENESIS or r.body["prev"] not in records),
        key=lambda r: (r.body["time"], r.seq),
    )
    # Retention cuts a store's oldest records: the oldest record alone may follow none.
    cut = starts[0] if starts else None
    spans: list[tuple[int, int]] = []
    visited: set[str] = set()
    for start in starts:
        if start.body["prev"] == GENESIS:
            if start.seq != 0:
                problems.append(
                    f"{start.where}: record {start.seq} of agent {name} claims to start a chain"
                )
        elif start is not cut:
            problems.append(
                f"{start.where}: records of agent {name} are missing before record {start.seq} "
                "(it follows no record of the export)"
            )
        record = start
        visited.add(record.hash)
        while True:
            nexts = following.get(record.hash, [])
            if len(nexts) > 1:
                problems.append(
                    f"{nexts[1].where}: two records of agent {name} follow record {record.seq}"
                )
            if not nexts or nexts[0].hash in visited:
                break
            after = nexts[0]
            if after.seq != record.seq + 1:
                problems.append(
                    f"{after.where}: record {after.seq} of agent {name} follows record {record.seq}"
                )
            record = after
            visited.add(record.hash)
        spans.append((start.seq, record.seq))
    if len(visited) < len(records):
        problems.append(f"agent {name}: {len(records) - len(visited)} records belong to no chain")
    return spans, problems


def describe(verdict: ExportVerdict) -> str:
    """``3 chains of 2 agents``: what was verified, for the command's last line."""
    parts = []
    for name, spans in verdict.chains.items():
        ranges = ", ".join(f"{first}..{last}" for first, last in spans)
        parts.append(f"agent {name or '(none)'}: {ranges}")
    return "; ".join(parts)
