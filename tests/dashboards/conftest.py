"""One `oversight demo` and one Prometheus scraping it, shared by the live dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboards.stack import Stack, running_stack

# Seconds of scraping before the first query: enough for 15s rate windows, the recording rules
# and the demo's first faults (a slow payment processor, the core ledger going down).
SETTLE = 35.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("dashboards"), SETTLE) as running:
        yield running
