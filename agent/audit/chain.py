"""The chain itself: how a record is sealed, and how a sequence of files is verified.

Each record carries the SHA-256 of the record before it (``prev``) and its own (``hash``,
over its canonical JSON without ``hash``). Editing a record breaks its hash; deleting or
reordering breaks ``prev`` and ``seq``; a cut through a line is not JSON. Deleting whole
records from the end leaves a valid chain, so the writer also keeps ``<file>.head`` with the
last sequence number and hash, and verification compares against it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64  # ``prev`` of the very first record


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    time: str  # RFC 3339, UTC
    type: str
    subject: str
    details: dict[str, Any]
    prev: str
    hash: str

    def line(self) -> str:
        return json.dumps(self._body() | {"hash": self.hash}, separators=(",", ":")) + "\n"

    def _body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "type": self.type,
            "subject": self.subject,
            "details": self.details,
            "prev": self.prev,
        }


def digest(body: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON (sorted keys, no spaces), ``hash`` left out."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal(
    seq: int, time: str, type: str, subject: str, details: dict[str, Any], prev: str
) -> Record:
    """A new record chained to ``prev``."""
    body = {
        "seq": seq,
        "time": time,
        "type": type,
        "subject": subject,
        "details": details,
        "prev": prev,
    }
    return Record(seq, time, type, subject, details, prev, digest(body))


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    records: int
    problems: tuple[str, ...]
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None


def verify_files(paths: Sequence[Path], *, head: Path | None = None) -> Verdict:
    """Verify files given oldest first; the chain must run through all of them unbroken.

    The first record may continue a rotated-away file (``prev`` not genesis); that is said
    in the verdict's problems only when its ``seq`` is 0, where it must be genesis.
    """
    problems: list[str] = []
    prev: str | None = None
    expected_seq: int | None = None
    count = 0
    first_seq = last_seq = None
    last_hash: str | None = None
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            return Verdict(False, count, (f"{path}: cannot read: {exc.strerror or exc}",))
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        elif lines:
            problems.append(f"{path}:{len(lines)}: truncated: the last line has no end")
        for number, line in enumerate(lines, 1):
            where = f"{path}:{number}"
            try:
                raw = json.loads(line)
                claimed = raw.pop("hash")
                seq, prev_field = int(raw["seq"]), str(raw["prev"])
            except (ValueError, KeyError, TypeError, AttributeError):
                problems.append(f"{where}: not an audit record")
                continue
            count += 1
            if digest(raw) != claimed:
                problems.append(f"{where}: record {seq} was modified (its hash does not match)")
            if expected_seq is None:
                first_seq = seq
                if seq == 0 and prev_field != GENESIS:
                    problems.append(f"{where}: record 0 does not start the chain")
            else:
                if seq != expected_seq:
                    what = "records are missing" if seq > expected_seq else "out of order"
                    problems.append(
                        f"{where}: record {seq} follows record {expected_seq - 1}: {what}"
                    )
                if prev_field != prev:
                    problems.append(f"{where}: record {seq} does not chain to the record before it")
            prev, expected_seq = claimed, seq + 1
            last_seq, last_hash = seq, claimed
    if head is not None and head.exists():
        try:
            head_seq, head_hash = head.read_text().split()
        except ValueError:
            problems.append(f"{head}: unreadable")
        else:
            if int(head_seq) != last_seq or head_hash != last_hash:
                problems.append(
                    f"{head}: the log should end at record {head_seq}; it ends at "
                    f"{last_seq if last_seq is not None else 'nothing'} (records were removed)"
                )
    return Verdict(not problems, count, tuple(problems), first_seq, last_seq, last_hash)
