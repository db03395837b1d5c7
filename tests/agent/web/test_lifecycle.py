"""``POST /-/reload``: off unless --web.enable-lifecycle, never triggered by a web page, and
its answer names files without where they sit."""

from __future__ import annotations

import contextlib
import io

import aiohttp
import pytest

from agent.cli import main
from tests.agent.web.conftest import HOST, LocalAgent, StartLocal, agent_config

CONFIG = agent_config("http://127.0.0.1:1/")


async def send(
    agent: LocalAgent, method: str = "POST", headers: dict[str, str] | None = None, data: str = ""
) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"http://{HOST}:{agent.port}/-/reload",
            headers=headers or {},
            data=data or None,
        ) as response,
    ):
        return response.status, await response.text()


async def test_reload_over_http_is_off_by_default(local_agent: StartLocal) -> None:
    agent = await local_agent(CONFIG)
    plan = agent.app.plan
    agent.path.write_text(CONFIG.replace("interval: 1s", "interval: 2s"))
    assert await send(agent) == (
        403,
        "403 Forbidden: the lifecycle endpoint is off; start the agent with "
        "--web.enable-lifecycle to reload over HTTP (SIGHUP reloads either way)\n",
    )
    assert agent.app.plan is plan


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_tool_reloads_when_the_endpoint_is_on(local_agent: StartLocal, method: str) -> None:
    agent = await local_agent(CONFIG, lifecycle=True)
    agent.path.write_text(CONFIG.replace("interval: 1s", "interval: 2s"))
    assert await send(agent, method) == (200, "reloaded\n")
    assert agent.app.plan.probes["bill_pay/processor/health"].interval == 2.0
    assert (await send(agent, "GET"))[0] == 405


@pytest.mark.parametrize(
    ("headers", "data", "because"),
    [
        (
            {"Origin": "http://intranet.example"},
            "",
            "it carries an Origin header, as a web page's request does",
        ),
        (
            {"Origin": f"http://{HOST}:9469"},
            "",
            "it carries an Origin header, as a web page's request does",
        ),
        (
            {"Sec-Fetch-Site": "cross-site"},
            "",
            "it was sent by a web page (Sec-Fetch-Site: cross-site)",
        ),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            "a=b",
            "it has the content type of an HTML form (application/x-www-form-urlencoded)",
        ),
        (
            {"Content-Type": "text/plain; charset=utf-8"},
            "x",
            "it has the content type of an HTML form (text/plain)",
        ),
        (
            {"Content-Type": "multipart/form-data; boundary=x"},
            "--x--",
            "it has the content type of an HTML form (multipart/form-data)",
        ),
    ],
)
async def test_a_web_page_cannot_trigger_a_reload(
    local_agent: StartLocal, headers: dict[str, str], data: str, because: str
) -> None:
    agent = await local_agent(CONFIG, lifecycle=True)
    plan = agent.app.plan
    agent.path.write_text(CONFIG.replace("interval: 1s", "interval: 2s"))
    assert await send(agent, headers=headers, data=data) == (
        403,
        f"403 Forbidden: reload refused because {because}; reload with a tool, "
        "e.g. curl -X POST http://HOST:PORT/-/reload\n",
    )
    assert agent.app.plan is plan


async def test_a_failed_reload_answers_without_directories(local_agent: StartLocal) -> None:
    agent = await local_agent(CONFIG, lifecycle=True)
    agent.path.write_text(CONFIG.replace("timeout: 900ms", "timout: 900ms"))
    status, text = await send(agent)
    assert status == 400
    assert text == (
        "reload failed, running config kept:\n"
        "oversight.yaml:13: patterns.bill_pay.integrations.processor.probes.health: "
        "unknown key 'timout'; did you mean 'timeout'?\n"
    )


def test_run_help_names_the_web_flags() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(out.getvalue().split())
    assert "--web.config.file FILE" in text
    assert "--web.enable-lifecycle" in text
    assert "exporter-toolkit web config format" in text
