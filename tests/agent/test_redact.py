"""Secret scrubbing: URLs, headers, known secrets in text and in log records."""

from __future__ import annotations

import logging

import pytest

from agent.redact import (
    MASK,
    RedactingFilter,
    Redactor,
    is_secret_param,
    mask_cards,
    redact_headers,
    redact_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bank.example/health", "https://bank.example/health"),
        ("https://ops:hunter22@bank.example/health", "https://bank.example/health"),
        ("https://ops@bank.example:8443/x", "https://bank.example:8443/x"),
        ("http://u:p@[::1]:8080/", "http://[::1]:8080/"),
        ("https://h/p?token=abc&page=2", "https://h/p?token=<redacted>&page=2"),
        ("https://h/p?access_token=abc", "https://h/p?access_token=<redacted>"),
        ("https://h/?apiKey=1&api_key=2", "https://h/?apiKey=<redacted>&api_key=<redacted>"),
        (
            "https://h/?X-Amz-Signature=s&X-Amz-Date=d",
            "https://h/?X-Amz-Signature=<redacted>&X-Amz-Date=d",
        ),
        ("https://h/cb?code=xyz&state=ok", "https://h/cb?code=<redacted>&state=ok"),
        ("https://h/?sig=1&password=2", "https://h/?sig=<redacted>&password=<redacted>"),
        ("https://h/?passwd=1&apikey=2", "https://h/?passwd=<redacted>&apikey=<redacted>"),
        ("https://h/?session=1&auth=2", "https://h/?session=<redacted>&auth=<redacted>"),
        ("https://h/?secret=1&id=2", "https://h/?secret=<redacted>&id=2"),
        ("https://h/p?design=1&keyboard=2", "https://h/p?design=1&keyboard=2"),
        ("https://h/p?token=&flag", "https://h/p?token=&flag"),
        ("https://h/p?token=a%20b#frag", "https://h/p?token=<redacted>#frag"),
        ("https://u:p@[bad/x?token=1&a=2", "https://[bad/x?token=<redacted>&a=2"),
        ("https://h/go?next=https://u:pw@other/x&a=1", "https://h/go?next=https://other/x&a=1"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("token", True),
        ("id_token", True),
        ("clientSecret", True),
        ("Signature", True),
        ("sessionid", True),
        ("jwt", True),
        ("page", False),
        ("monkey", False),
        ("q", False),
    ],
)
def test_is_secret_param(name: str, secret: bool) -> None:
    assert is_secret_param(name) is secret


HEADERS = {
    "Authorization": "Bearer abc",
    "proxy-authorization": "Basic xyz",
    "Cookie": "sid=1",
    "Set-Cookie": "sid=2",
    "X-Api-Key": "k",
    "X-Auth-Token": "t",
    "X-Client-Secret": "s",
    "X-Db-Password": "p",
    "My-API-Key": "m",
    "X-Internal": "i",
    "Accept": "application/json",
    "X-Request-Id": "r-1",
}


def test_redact_headers_masks_secret_names_and_extras() -> None:
    redacted = redact_headers(HEADERS, extra_names=("x-internal",))
    kept = {"Accept": "application/json", "X-Request-Id": "r-1"}
    assert redacted == {name: kept.get(name, MASK) for name in HEADERS}
    assert HEADERS["Authorization"] == "Bearer abc"  # the input is not touched


def test_redact_headers_accepts_pairs_and_keeps_unlisted() -> None:
    pairs = [("X-Internal", "i"), ("Accept", "*/*")]
    assert redact_headers(pairs) == {"X-Internal": "i", "Accept": "*/*"}


@pytest.mark.parametrize(
    ("secrets", "text", "expected"),
    [
        (["hunter22"], "login with hunter22 failed", "login with <redacted> failed"),
        (["abcd", "abcdef"], "x abcdef y abcd", "x <redacted> y <redacted>"),
        (["a.b*c"], "regex a.b*c and axbbc", "regex <redacted> and axbbc"),
        (["abc"], "too short abc", "too short abc"),
        ([""], "empty ignored", "empty ignored"),
        ([], "see https://ops:pw@bank.example/x", "see https://<redacted>@bank.example/x"),
        (["t0ken"], "t0kent0ken", "<redacted><redacted>"),
    ],
)
def test_redactor_scrub(secrets: list[str], text: str, expected: str) -> None:
    assert Redactor(secrets).scrub(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4539 1488 0343 6467 declined", "card **** **** **** 6467 declined"),
        ("id 4539148803436468 (no Luhn)", "id 4539148803436468 (no Luhn)"),
        # binary as repr and aiohttp's parser errors write it: an escape's hex digits are not
        # part of the card beside it
        (r"b'\x00\x024539148803436467\x00'", r"b'\x00\x02**** **** **** 6467\x00'"),
        (r"\xa44539148803436467", r"\xa4**** **** **** 6467"),
        (
            r"\u00054539148803436467 and \U0001f6004539148803436467",
            r"\u0005**** **** **** 6467 and \U0001f600**** **** **** 6467",
        ),
        (r"a \ b 4539148803436467", r"a \ b **** **** **** 6467"),
        (r"\x004539148803436468", r"\x004539148803436468"),
    ],
)
def test_mask_cards(text: str, expected: str) -> None:
    assert mask_cards(text) == expected


def test_a_secret_is_masked_as_a_target_may_echo_it() -> None:
    """As written, URL-encoded (both ways) and JSON-escaped."""
    redactor = Redactor(['p/w d!"x'])
    echoed = 'raw p/w d!"x, url p%2Fw%20d%21%22x, form p%2Fw+d%21%22x, json p/w d!\\"x'
    assert (
        redactor.scrub(echoed) == "raw <redacted>, url <redacted>, form <redacted>, json <redacted>"
    )
    assert redactor.secrets == frozenset({'p/w d!"x'})


def test_with_secrets_returns_itself_when_nothing_is_new() -> None:
    base = Redactor(["first-secret"])
    assert base.with_secrets(["first-secret", "abc", ""]) is base


def test_redactor_is_immutable_and_extends() -> None:
    base = Redactor(["first-secret"])
    more = base.with_secrets(["second-secret"])
    assert base.secrets == frozenset({"first-secret"})
    assert more.secrets == frozenset({"first-secret", "second-secret"})
    assert more.scrub("first-secret second-secret") == "<redacted> <redacted>"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, exc_info)


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("token is %s", ("s3cr3t-token",), "token is <redacted>"),
        ("plain s3cr3t-token text", (), "plain <redacted> text"),
        ("%s and %d", ("s3cr3t-token", 5), "<redacted> and 5"),
        ("nothing here", (), "nothing here"),
        ("bad format %d", ("s3cr3t-token",), "bad format %d ('<redacted>',)"),
    ],
)
def test_log_filter_scrubs_message_and_args(
    msg: str, args: tuple[object, ...], expected: str
) -> None:
    record = _record(msg, *args)
    assert Redactor(["s3cr3t-token"]).log_filter().filter(record) is True
    assert record.getMessage() == expected


def test_log_filter_scrubs_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    redacting = RedactingFilter(Redactor(["s3cr3t-token"]))
    caplog.handler.addFilter(redacting)
    try:
        raise RuntimeError("failed with s3cr3t-token")
    except RuntimeError:
        logger.exception("probe %s raised", "s3cr3t-token")
    finally:
        caplog.handler.removeFilter(redacting)
    assert "s3cr3t-token" not in caplog.text
    assert "probe <redacted> raised" in caplog.text
    assert "RuntimeError: failed with <redacted>" in caplog.text


def test_the_filter_follows_the_current_redactor() -> None:
    """A reload brings new secrets: a filter given a function uses whatever it returns now."""
    current = [Redactor(["old-secret"])]
    redacting = RedactingFilter(lambda: current[0])
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "%s and %s", ("old-secret", "new-secret"), None
    )
    current[0] = Redactor(["new-secret"])
    redacting.filter(record)
    assert record.getMessage() == "old-secret and <redacted>"


def test_a_runs_secrets_extend_the_redactor_once_for_every_run() -> None:
    base = Redactor(["agent-secret"])
    first = base.with_secrets(["run-token-1", "agent-secret"])
    assert base.with_secrets(["run-token-1"]) is first  # the next run pays nothing
    assert first.secrets == frozenset({"agent-secret", "run-token-1"})
    rotated = base.with_secrets(["run-token-2"])
    assert rotated is not first and rotated.scrub("run-token-1 run-token-2") == (
        "run-token-1 <redacted>"
    )
