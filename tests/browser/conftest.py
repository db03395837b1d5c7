"""A real browser on the demo: Debian's chromium, headless, one window per module, and the
screenshots each test leaves in tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chromium import chromium, missing

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    reason = missing()
    if reason is not None:
        if os.environ.get("CI"):  # scripts/test installs it: in CI its absence is a failure
            pytest.fail(reason)
        pytest.skip(reason)
    with chromium(1280, 900) as driver:
        yield driver


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
