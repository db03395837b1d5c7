"""The demo's services, started on loopback for one test and stopped after it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.demo import DemoServices, start_services


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoServices]:
    services = await start_services(tmp_path)
    yield services
    await services.stop()


@pytest.fixture
def client_tls(demo: DemoServices) -> ssl.SSLContext:
    """A client context that trusts only the demo CA."""
    return ssl.create_default_context(cafile=str(demo.ca_file))
