"""Log lines, text and JSON: every record scrubbed, tracebacks included."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from agent.logs import Repeats, log_handler
from agent.outputs import BaseOutput, each
from agent.redact import Redactor

SECRET = "s3cr3t-token-0042"


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("test.logs")
    logger.propagate, logger.level = False, logging.DEBUG
    yield logger
    logger.handlers.clear()
    logger.propagate = True


def write(logger: logging.Logger, fmt: str) -> str:
    stream = io.StringIO()
    logger.addHandler(log_handler(fmt, lambda: Redactor([SECRET]), stream))
    logger.debug("probe %s failed: card %s", "p/i/x", "4539148803436467", extra={"probe": "p/i/x"})
    try:
        raise RuntimeError(f"refused {SECRET}")
    except RuntimeError:
        logger.exception("probe %s raised", "p/i/x")
    return stream.getvalue()


def test_json_lines_carry_the_traceback_scrubbed(logger: logging.Logger) -> None:
    """The JSON formatter used to format the traceback afresh, past the redacting filter."""
    first, second = (json.loads(line) for line in write(logger, "json").splitlines())
    assert first["message"] == "probe p/i/x failed: card **** **** **** 6467"
    assert (first["level"], first["logger"], first["probe"]) == ("debug", "test.logs", "p/i/x")
    assert second["message"] == "probe p/i/x raised"
    assert second["exception"].startswith("Traceback (most recent call last):")
    assert second["exception"].endswith("RuntimeError: refused <redacted>")


def test_text_lines_carry_the_traceback_scrubbed(logger: logging.Logger) -> None:
    text = write(logger, "text")
    assert " DEBUG   test.logs: probe p/i/x failed: card **** **** **** 6467\n" in text
    assert "RuntimeError: refused <redacted>" in text
    assert SECRET not in text


def test_repeats_are_loud_once_per_key_then_debug() -> None:
    repeats = Repeats()
    assert repeats.level(("p/i/x", "overlap")) == logging.WARNING
    assert repeats.level(("p/i/x", "overlap")) == logging.DEBUG
    assert repeats.level(("p/i/y", "overlap"), logging.ERROR) == logging.ERROR
    assert repeats.level(("p/i/x", "missed")) == logging.WARNING


class Breaks(BaseOutput):
    name = "breaks"

    def on_result(self, probe: Any, result: Any, trace: Any) -> None:
        raise RuntimeError("bug")


class Hears(BaseOutput):
    name = "hears"

    def __init__(self) -> None:
        self.heard = 0

    def on_result(self, probe: Any, result: Any, trace: Any) -> None:
        self.heard += 1


def test_an_output_failing_on_every_result_is_loud_once(caplog: pytest.LogCaptureFixture) -> None:
    hears, repeats = Hears(), Repeats()
    with caplog.at_level(logging.DEBUG, logger="oversight.outputs"):
        for _ in range(5):
            each([Breaks(), hears], lambda o: o.on_result(None, None, None), "a result", repeats)
    assert hears.heard == 5  # the others still hear
    levels = [(r.levelname, bool(r.exc_info)) for r in caplog.records]
    assert levels == [("ERROR", True)] + [("DEBUG", False)] * 4
