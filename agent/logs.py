"""Logging set-up: one handler, text or JSON lines, every record scrubbed of secrets; and
``Repeats``, which keeps a problem that recurs every run from flooding the log."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Hashable
from typing import TextIO

from agent.redact import RedactingFilter, Redactor


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        probe = getattr(record, "probe", None)
        if probe:
            doc["probe"] = probe
        # The traceback as the redacting filter left it, never formatted afresh from the
        # exception: its text may quote a secret.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = record.stack_info
        return json.dumps(doc)


def log_handler(
    fmt: str, redactor: Callable[[], Redactor], stream: TextIO | None = None
) -> logging.Handler:
    """A handler writing text or JSON lines to ``stream`` (stderr), every record scrubbed."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    return handler


def setup_logging(level: str, fmt: str, redactor: Callable[[], Redactor]) -> None:
    root = logging.getLogger()
    root.handlers[:] = [log_handler(fmt, redactor)]
    root.setLevel(level.upper())


class Repeats:
    """Says a recurring problem once at its own level, then at debug.

    A probe whose run raises, a run skipped for overlap, an output that fails: each can come
    back every second. ``level(key, loud)`` is ``loud`` the first time ``key`` is met and
    DEBUG after; the metrics count every occurrence, so only the noise is lost. Keys (a probe
    id with a reason) are bounded by the plan.
    """

    def __init__(self) -> None:
        self._seen: set[Hashable] = set()

    def level(self, key: Hashable, loud: int = logging.WARNING) -> int:
        if key in self._seen:
            return logging.DEBUG
        self._seen.add(key)
        return loud
