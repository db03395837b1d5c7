"""The writer: events are queued by the agent and written in batches, flushed and fsynced.

A batch on disk is then passed to ``written`` (the App ships it as OTLP log records); the local
file comes first, so what is shipped is what the file holds.

A write that fails (a full disk) loses nothing: the file is cut back to where the batch
began, the batch stays queued, the failure is counted, and the next flush tries again. Only
when the bounded queue overflows are the oldest events dropped, and the next record written
says how many.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.audit.chain import GENESIS, Record, seal

log = logging.getLogger("oversight.audit")


class AuditPathError(Exception):
    """The audit file cannot be written: said at start, before any probe runs."""


@dataclass
class AuditStats:
    events: dict[str, int] = field(default_factory=dict)  # by type, as emitted
    write_failures: int = 0
    dropped: int = 0
    last_success: float = 0.0


@dataclass(frozen=True, slots=True)
class AuditSnapshot:
    events: Mapping[str, int]  # by type, since start
    write_failures: int
    pending: int  # queued, not yet written
    last_success: float  # unix seconds of the last good write, 0 before the first
    failing_since: float | None = None  # unix seconds of the first failed write of an outage
    error: str = ""  # why the last write failed, without the path


@dataclass(frozen=True, slots=True)
class _Event:
    time: str
    type: str
    subject: str
    details: dict[str, Any]


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class AuditLog:
    """Owned by the App. ``emit`` never blocks and never raises; ``flush`` does the I/O."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int = 10 << 20,
        keep: int = 5,
        queue_limit: int = 10_000,
        scrub: Callable[[str], str] = str,
        written: Callable[[list[Record]], object] | None = None,
    ) -> None:
        self.path = Path(path)
        self.head = self.path.with_name(self.path.name + ".head")
        self.max_bytes, self.keep = max_bytes, keep
        self.scrub = scrub
        self.written = written  # hears each batch once it is on disk (to ship it elsewhere)
        self.stats = AuditStats()
        self._pending: deque[_Event] = deque(maxlen=queue_limit)
        self._lock = asyncio.Lock()
        self._seq, self._prev = 0, GENESIS
        self._failing_since: float | None = None
        self.error = ""  # why the last write failed (the OS's words), "" while writes succeed

    def open(self) -> None:
        """Check the file can be written and pick the chain up where it ended."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise AuditPathError(
                f"cannot write the audit log {self.path}: {exc.strerror or exc}"
            ) from exc
        last = _last_record(self.path)
        if last is not None:
            self._seq, self._prev = int(last["seq"]) + 1, str(last["hash"])

    def emit(self, type: str, subject: str, **details: Any) -> None:
        """Queue one event; its text passes the scrubber so no secret reaches the file."""
        clean = json.loads(self.scrub(json.dumps(details, default=str)))
        if len(self._pending) == self._pending.maxlen:
            self.stats.dropped += 1
        self._pending.append(_Event(_now(), type, self.scrub(subject), clean))
        self.stats.events[type] = self.stats.events.get(type, 0) + 1

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def failing_since(self) -> float | None:
        """When the writes began to fail (unix seconds); None while they succeed."""
        return self._failing_since

    async def flush(self) -> bool:
        """Write what is queued; True when nothing is left behind."""
        async with self._lock:
            if not self._pending:
                return True
            batch = list(self._pending)
            dropped, self.stats.dropped = self.stats.dropped, 0
            if dropped:
                batch.insert(0, _Event(_now(), "audit_events_dropped", "audit", {"count": dropped}))
            records = []
            seq, prev = self._seq, self._prev
            for event in batch:
                record = seal(seq, event.time, event.type, event.subject, event.details, prev)
                records.append(record)
                seq, prev = seq + 1, record.hash
            try:
                await asyncio.to_thread(self._write, records)
            except OSError as exc:
                self.stats.write_failures += 1
                self.stats.dropped += dropped
                self.error = exc.strerror or type(exc).__name__
                if self._failing_since is None:
                    self._failing_since = time.time()
                    log.error("cannot write the audit log %s: %s; will retry", self.path, exc)
                return False
            for _ in range(len(batch) - (1 if dropped else 0)):
                self._pending.popleft()
            self._seq, self._prev = seq, prev
            self.stats.last_success = time.time()
            self.error = ""
            if self.written is not None:
                try:
                    self.written(records)
                except Exception:  # shipping elsewhere must never cost the local trail
                    log.exception("audit records written, but passing them on failed")
            if self._failing_since is not None:
                log.warning(
                    "audit log writable again after %.0fs", time.time() - self._failing_since
                )
                self._failing_since = None
            return True

    async def run(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.flush()

    def _write(self, records: list[Record]) -> None:
        """Runs in a worker thread: append, flush, fsync, then move the head marker."""
        if self.path.exists() and self.path.stat().st_size >= self.max_bytes:
            self._rotate()
        with self.path.open("ab") as file:
            start = file.tell()
            try:
                file.write("".join(r.line() for r in records).encode())
                file.flush()
                os.fsync(file.fileno())
            except OSError:
                file.truncate(start)  # leave no half record behind for the retry to follow
                raise
        temp = self.head.with_name(self.head.name + ".tmp")
        temp.write_text(f"{records[-1].seq} {records[-1].hash}\n")
        os.replace(temp, self.head)

    def _rotate(self) -> None:
        """audit.jsonl -> audit.jsonl.1 -> ... ; the chain continues in the new file."""
        oldest = self.path.with_name(f"{self.path.name}.{self.keep}")
        oldest.unlink(missing_ok=True)
        for n in range(self.keep - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{n}")
            if src.exists():
                src.rename(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.rename(self.path.with_name(f"{self.path.name}.1"))

    def files(self) -> list[Path]:
        """Every file of the chain, oldest first, for ``oversight audit verify``."""
        rotated = [self.path.with_name(f"{self.path.name}.{n}") for n in range(self.keep, 0, -1)]
        return [p for p in rotated if p.exists()] + [self.path]


def _last_record(path: Path) -> dict[str, Any] | None:
    """The last complete record of a file, read from its end."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - 65536))
            tail = file.read(65536).decode("utf-8", "replace")  # bounded: a device never ends
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "seq" in record and "hash" in record:
            return record
    return None
