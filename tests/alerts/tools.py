"""Where the shipped alerting files are, and the Prometheus tools Debian installs to check them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ALERTS = Path(__file__).resolve().parents[2] / "alerts"
RULES = sorted((ALERTS / "rules").glob("*.yml"))
SUITES = sorted((ALERTS / "tests").glob("*_test.yml"))
ALERTMANAGER_CONFIG = ALERTS / "alertmanager.yml"

INSTALL_HINT = (
    "install Debian's prometheus and prometheus-alertmanager packages "
    "(`bash scripts/test` does: apt-get install prometheus prometheus-alertmanager)"
)


def binary(*names: str) -> str:
    """The path of the first of ``names`` on PATH; fails the test (never skips) if none is."""
    for name in names:
        if path := shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin"):
            return path
    pytest.fail(f"{' or '.join(names)} not found: {INSTALL_HINT}", pytrace=False)


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing its output as text; the caller asserts on the return code."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
