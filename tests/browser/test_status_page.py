"""The status page in a real browser, over the demo's services: worst first, states in words,
time in state ticking, heartbeat bars, a fault shown without a reload, a stale banner when
the agent stops answering, a layout that fits 800 px and a phone, no secret anywhere, and the
script drawing the same page the agent rendered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.demo.contracts import TOKEN
from tests.browser.served import Demo, ServedAgent, demo

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

STATES = ["down", "impacted", "degraded", "unknown", "ok"]
BAR_TITLE = re.compile(
    r"^\d\d:\d\d:\d\d UTC · (passed|passed over a threshold|failed: [a-z_]+) · [\d.]+ ms$"
)
CARD = "4111111111111111"
FLOW = "bill_pay/payment_workflow/pay_bill"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo with the core ledger down from the start: its dependants are impacted."""
    workdir = tmp_path_factory.mktemp("demo")
    with demo(workdir, account__core_ledger={"down": True}) as running:
        running.agent.wait(lambda app: app.ready[0], what="the first round")
        yield running


@pytest.fixture(autouse=True)
def desktop(browser: WebDriver) -> None:
    """Each test starts on a 1280 x 900 desktop, whatever the one before it left."""
    viewport(browser, 1280, 900)


def wait_js(browser: WebDriver, condition: str, timeout: float = 30.0) -> Any:
    """Wait until the JavaScript expression ``condition`` is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(
        lambda driver: driver.execute_script(f"return {condition};"),
        f"not in {timeout:g}s: {condition}",
    )


def open_live(browser: WebDriver, site: Demo | ServedAgent, refresh: str = "1s") -> None:
    """Load the page and wait until the script has redrawn it from the JSON API once."""
    agent = site if isinstance(site, ServedAgent) else site.agent
    browser.get(agent.url(f"/?refresh={refresh}"))
    wait_js(browser, "Number(document.body.dataset.polls) >= 1")


def cards(browser: WebDriver) -> list[tuple[str, str, str]]:
    """(pattern, integration key, state) of every card, top to bottom."""
    return [
        tuple(row)
        for row in browser.execute_script(
            "return Array.from(document.querySelectorAll('article.integration')).map(a => "
            "[a.closest('section').dataset.pattern, a.dataset.key, a.dataset.state]);"
        )
    ]


def viewport(browser: WebDriver, width: int, height: int = 900, phone: bool = False) -> None:
    """Emulate a viewport of exactly ``width`` CSS pixels (a window cannot be narrower than
    500); ``phone`` also honours the page's viewport meta tag as a phone does."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": phone}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def shot(browser: WebDriver, artifacts: Path, name: str, phone: bool = False) -> None:
    """A screenshot of the whole page at the current width."""
    width = browser.execute_script("return document.documentElement.clientWidth;")
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    viewport(browser, width, min(max(height, 600), 8000), phone)
    browser.save_screenshot(str(artifacts / name))
    viewport(browser, width, 900, phone)


def test_worst_first_with_states_in_words_time_in_state_and_bars(
    browser: WebDriver, site: Demo, artifacts: Path
) -> None:
    open_live(browser, site)
    order = cards(browser)
    assert order[0][1:] == ("account/core_ledger", "down")
    sections = browser.execute_script(
        "return Array.from(document.querySelectorAll('section.pattern'))"
        ".map(s => s.dataset.pattern);"
    )
    worst = {p: min(STATES.index(s) for q, _, s in order if q == p) for p in sections}
    assert [worst[p] for p in sections] == sorted(worst[p] for p in sections)
    for pattern in sections:
        ranks = [STATES.index(s) for q, _, s in order if q == pattern]
        assert ranks == sorted(ranks), pattern
    states = dict((key, state) for _, key, state in order)
    assert states["account/account_service"] == "impacted"
    badges = browser.execute_script(
        "return Array.from(document.querySelectorAll('article .head .state')).map(b => "
        "[b.closest('article').dataset.key, b.textContent, getComputedStyle(b).display]);"
    )
    assert all(text == states[key] and shown != "none" for key, text, shown in badges)
    agent_line = browser.find_element("id", "agent").text
    assert agent_line.startswith("ready · agent ") and "True" not in agent_line

    since = "document.querySelector('[data-key=\"account/core_ledger\"] .since').textContent"
    first = browser.execute_script(f"return {since};")
    assert re.fullmatch(r"for \d+(s|m)", first)
    wait_js(browser, f"{since} !== {first!r}", timeout=10)  # it ticks without a poll

    bars = browser.execute_script(
        "return Array.from(document.querySelectorAll('.bars')).map(b => "
        "[b.closest('li').querySelector('a.name').getAttribute('href'), b.children.length, "
        "Array.from(b.querySelectorAll('.bar:not(.none)')).map(x => x.title), "
        "b.getAttribute('aria-label')]);"
    )
    shown = site.agent.read(lambda app: [p for p in app.plan.probes.values() if not p.derived_from])
    assert len(bars) == len(shown)  # every probe but the derived auth checks
    for href, slots, titles, label in bars:
        assert slots == 60, href  # the kept runs and the slots still empty
        assert titles, href  # every probe has run
        assert all(BAR_TITLE.match(t) for t in titles), titles
        assert label.startswith(f"last {len(titles)} runs: "), label
    ledger = next(b for b in bars if b[0] == "probe/account/core_ledger/health")
    assert all(t.endswith(" ms") and "failed: connect_refused" in t for t in ledger[2])
    shot(browser, artifacts, "status-page.png")
    assert console_errors(browser) == []


def console_errors(browser: WebDriver) -> list[str]:
    """What the console said at level error since the last call: a script error, a blocked
    resource, a Content-Security-Policy violation (the favicon the page has none of aside)."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]


def test_the_script_draws_the_page_the_agent_rendered(browser: WebDriver, site: Demo) -> None:
    """The first paint comes from the agent, the next ones from status.js: same markup, same
    words (numbers aside: runs go on between the two loads)."""
    shape = (
        "return Array.from(document.querySelectorAll('#patterns *')).map(e => e.tagName + '.' + "
        "Array.from(e.classList).filter(c => !['pass', 'fail', 'warn', 'none'].includes(c))"
        ".join('.')).join(' ') + '\\n' + document.getElementById('patterns').innerText"
        ".replace(/\\d+(\\.\\d+)?/g, '#');"
    )
    for _ in range(3):  # a state may change between the two loads: look again
        browser.get(site.agent.url("/?refresh=1h"))  # the agent's page; no poll for an hour
        served = browser.execute_script(shape)
        open_live(browser, site)
        drawn = browser.execute_script(shape)
        if served == drawn:
            break
    assert drawn == served


def test_a_fault_shows_without_a_reload(browser: WebDriver, site: Demo, artifacts: Path) -> None:
    open_live(browser, site)
    browser.execute_script("window.sameDocument = 'yes';")
    assert dict((k, s) for _, k, s in cards(browser))["client/kyc_vendor"] == "ok"
    site.fault("client/kyc_vendor", status=503)
    try:
        kyc = "document.querySelector('[data-key=\"client/kyc_vendor\"]')"
        wait_js(browser, f"{kyc}.dataset.state === 'down'")
        wait_js(
            browser,
            "document.querySelector('[data-key=\"client/client_service\"]')"
            ".dataset.state === 'impacted'",
        )
        assert browser.execute_script("return window.sameDocument;") == "yes"
        assert (
            browser.execute_script(f"return {kyc}.querySelector('.state').textContent;") == "down"
        )
        reason = browser.execute_script(f"return {kyc}.querySelector('.reason').textContent;")
        assert "status_mismatch" in reason and "(503)" in reason
        order = cards(browser)
        client = [k for p, k, _ in order if p == "client"]
        assert client[0] == "client/kyc_vendor"
        assert [p for p, _, _ in order].index("client") < [p for p, _, _ in order].index("bill_pay")
        wait_js(browser, f"{kyc}.querySelector('.bar.fail') !== null")
        shot(browser, artifacts, "status-page-after-fault.png")
    finally:
        site.fault("client/kyc_vendor")
    wait_js(
        browser, "document.querySelector('[data-key=\"client/kyc_vendor\"]').dataset.state === 'ok'"
    )
    assert browser.execute_script("return window.sameDocument;") == "yes"


@pytest.mark.parametrize(("width", "name"), [(800, "800px"), (375, "phone")])
def test_nothing_falls_off_screen(
    browser: WebDriver, site: Demo, artifacts: Path, width: int, name: str
) -> None:
    viewport(browser, width, phone=width < 500)
    open_live(browser, site)
    assert browser.execute_script("return window.innerWidth;") == width
    overflow = browser.execute_script(
        """
        const width = document.documentElement.clientWidth;
        const out = [];
        for (const el of document.body.querySelectorAll('*')) {
          if (el.parentElement && el.parentElement.classList.contains('bars')) continue;
          const r = el.getBoundingClientRect();
          if (!r.width && !r.height) continue;
          if (r.left < -0.5 || r.right > width + 0.5)
            out.push(el.tagName + '.' + el.className + ' ' + r.left + '..' + r.right);
        }
        return [width, document.documentElement.scrollWidth, out.slice(0, 5)];
        """
    )
    client, scroll, outside = overflow
    assert scroll <= client and outside == [], overflow
    runbooks = browser.execute_script(
        "return Array.from(document.querySelectorAll('.meta a')).filter(a => a.textContent === "
        "'runbook').map(a => a.getBoundingClientRect().right);"
    )
    assert runbooks and max(runbooks) <= client
    shot(browser, artifacts, f"status-page-{name}.png", phone=width < 500)
    browser.get(site.agent.url("/probe/bill_pay/payment_workflow/pay_bill"))
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth;"
    )
    shot(browser, artifacts, f"probe-page-{name}.png", phone=width < 500)


def contrast(foreground: str, background: str) -> float:
    def luminance(rgb: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", rgb)[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_state_colours_can_be_read(browser: WebDriver, site: Demo) -> None:
    open_live(browser, site)
    colours = browser.execute_script(
        "return Array.from(document.querySelectorAll('.state, .flag, .count, .ready')).map(e => "
        "[e.className, getComputedStyle(e).color, getComputedStyle(e).backgroundColor]);"
    )
    assert {c[0] for c in colours} >= {"state s-down", "state s-impacted", "state s-ok"}
    for name, colour, background in colours:
        if background in ("rgba(0, 0, 0, 0)", "transparent"):
            background = "rgb(255, 255, 255)"  # on the page's white
        assert contrast(colour, background) >= 4.5, (name, colour, background)


def test_no_secret_card_number_or_path_on_any_page(browser: WebDriver, site: Demo) -> None:
    workdir = site.services.workdir
    jwt = (workdir / "kyc-token.jwt").read_text().strip()
    secrets = [TOKEN, jwt, jwt.split(".")[-1], CARD, "4111 1111 1111 1111", "acct-", str(workdir)]
    site.fault("account/core_ledger")  # back up: the pay-a-bill flow captures an account token
    try:
        site.agent.wait(
            lambda app: app.store.latest[FLOW].success, what="the flow passes with its token"
        )
        site.agent.wait(
            lambda app: app.store.totals["bill_pay/biller_network/billers"].runs >= 1,
            what="the biller network's listing (the card number) read",
        )
        look_everywhere(browser, site, secrets)
    finally:
        site.fault("account/core_ledger", down=True)
    site.agent.wait(lambda app: not app.store.latest[FLOW].success, what="the ledger down again")


def look_everywhere(browser: WebDriver, site: Demo, secrets: list[str]) -> None:
    """Every page and answer the status page leads to, as the browser shows them."""
    open_live(browser, site)
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('a.name')).map(a => a.href);"
    )
    assert len(links) >= 20
    pages = [site.agent.url("/"), *links]
    pages += [site.agent.url(p) for p in ("/api/v1/status", "/api/v1/history")]
    pages += [link.replace("/probe/", "/api/v1/probes/") for link in links]
    for url in pages:
        if url != pages[0]:
            browser.get(url)
        seen = browser.page_source + browser.execute_script("return document.body.innerText;")
        for secret in secrets:
            assert secret not in seen, (url, secret[:12])


def test_a_probe_page_from_its_link(browser: WebDriver, site: Demo, artifacts: Path) -> None:
    open_live(browser, site)
    browser.find_element(
        "css selector", 'a.name[href="probe/bill_pay/payment_workflow/pay_bill"]'
    ).click()
    wait_js(browser, "location.pathname === '/probe/bill_pay/payment_workflow/pay_bill'")
    assert browser.find_element("tag name", "h1").text == "bill_pay/payment_workflow/pay_bill"
    text = browser.find_element("tag name", "body").text
    assert "X-Account-Token: <redacted>" in text and "Authorization: Bearer <redacted>" in text
    assert "validate_account (account/account_service): POST http://127.0.0.1:" in text
    steps = browser.execute_script(
        "return Array.from(document.querySelectorAll('h3')).map(h => h.textContent);"
    )
    assert "Steps" in steps
    assert "status_mismatch" in text  # the account service answers 503: its ledger is down
    shot(browser, artifacts, "probe-page-flow.png")
    browser.get(site.agent.url("/probe/bill_pay/payment_processor/cert"))
    text = browser.find_element("tag name", "body").text
    assert "TLS" in text and "ssl_leaf_subject" in text
    browser.get(site.agent.url("/probe/bill_pay/payment_processor/nothing"))
    assert (
        "integration bill_pay/payment_processor has no probe 'nothing'."
        in browser.find_element("tag name", "body").text
    )


def test_a_stale_banner_when_the_agent_stops_answering(
    browser: WebDriver, site: Demo, artifacts: Path
) -> None:
    open_live(browser, site)
    assert browser.find_element("id", "stale").is_displayed() is False
    site.agent.stop_listening()
    try:
        wait_js(browser, "!document.getElementById('stale').hidden")
        banner = browser.find_element("id", "stale")
        assert banner.is_displayed()
        assert banner.text.startswith("Not updated since ")
        assert "the agent does not answer" in banner.text
        assert browser.execute_script("return document.body.classList.contains('is-stale');")
        assert banner.get_attribute("role") == "alert"
        shot(browser, artifacts, "status-page-stale.png")
    finally:
        site.agent.listen_again()
    wait_js(browser, "document.getElementById('stale').hidden")
    assert not browser.execute_script("return document.body.classList.contains('is-stale');")
