"""What a target says stays text when the script redraws the page in the browser: HTML in a
header it answers with shows as written and never runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from tests.agent.reporting.test_status import EVIL, SCRIPT, evil_app
from tests.browser.served import LoopThread, ServedAgent
from tests.browser.test_status_page import console_errors, open_live

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAgent]:
    loop = LoopThread()

    async def start() -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(evil_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    runner, port = loop.run(start())
    config = Path(tmp_path_factory.mktemp("evil")) / "oversight.yaml"
    config.write_text(
        f"""\
agent: {{interval: 1s, timeout: 900ms}}
patterns:
  p:
    integrations:
      noisy:
        scope: external
        probes:
          page:
            http: {{url: "http://127.0.0.1:{port}/"}}
            conditions: ["[HEADER.X-Note] == calm", "[HEADER.X-Script] == calm"]
"""
    )
    agent = ServedAgent(loop, config)
    agent.wait(lambda app: app.ready[0], what="the first round")
    try:
        yield agent
    finally:
        agent.close()
        loop.run(runner.cleanup())
        loop.close()


def test_html_from_a_target_stays_text(browser: WebDriver, site: ServedAgent) -> None:
    open_live(browser, site)  # redrawn by the script from the JSON
    reason = browser.find_element("css selector", '[data-key="p/noisy"] .reason').text
    assert EVIL in reason and SCRIPT in reason  # shown as written
    assert browser.execute_script("return window.pwned;") is None  # and never run
    assert (
        browser.execute_script("return document.querySelectorAll('main img, main script').length;")
        == 0
    )
    browser.get(site.url("/probe/p/noisy/page"))
    assert EVIL in browser.find_element("tag name", "body").text
    assert browser.execute_script("return window.pwned;") is None
    assert console_errors(browser) == []
