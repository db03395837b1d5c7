"""Secret scrubbing at the edges: URLs, headers, known secret strings and card numbers in text.

Every text that leaves the agent (a label, a log line, a span, a page, a report, an audit
record) passes ``Redactor.scrub``; card numbers are masked there too, so a target that echoes
a card number into an error message cannot leak it through any output.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from urllib.parse import SplitResult, quote, quote_plus, urlsplit, urlunsplit

MASK = "<redacted>"
_KEPT_EXTENSIONS = 1024  # Redactors extended with a run's secrets, kept for the next run

# A digit run of 13 to 19 digits, spaces or dashes allowed between them: a card number when it
# passes Luhn and starts like a card of a known network (Visa 4; Mastercard 2[2-7], 5; Amex 34,
# 37; Diners 30, 36, 38; JCB 35; Discover, UnionPay and Maestro 5, 6), so timestamps and order
# numbers rarely look like cards.
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_NETWORK = re.compile(r"^(?:[456]|2[2-7]|3[04578])")
_SEPARATORS = re.compile(r"[ -]")
# An escaped byte or character (``\x00``, ``\u2028``, ``\U0001f600``) as Python's repr and
# aiohttp's parser errors write binary: its hex digits are not part of a card number next to
# it, so ``\x004111111111111111`` holds a card.
_ESCAPE = re.compile(r"(\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}))")

# Query parameter names are split into words (``access_token`` -> access, token;
# ``X-Amz-Signature`` -> x, amz, signature; ``apiKey`` -> api, key); one secret word masks
# the value. Over-masking a harmless ``zipcode`` costs nothing; leaking a token costs a lot.
_SECRET_WORD = re.compile(
    r"token|key|apikey|secret|passw(or)?d|pwd|pass|sig(nature)?|auth(orization)?|code"
    r"|session(id)?|sid|credentials?|jwt|otp|bearer|cookie|private|hmac"
)
_SECRET_PART = re.compile(r"token|secret|passw|api[-_]?key|signature|credential|session|auth")
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
_SECRET_HEADER_PART = re.compile(
    r"token|secret|passw(or)?d|api[-_]?key|auth|credential|session|signature"
)

# ``scheme://user:pass@host`` anywhere in free text.
_USERINFO = re.compile(r"(?<=://)[^/\s@?#]+@")
# ``name=value`` in a query that would not parse as a whole URL.
_QUERY_PAIR = re.compile(r"(?<=[?&;])([^=&#\s]+=[^&#\s]*)")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check every card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(run: str) -> str | None:
    digits = _SEPARATORS.sub("", run)
    if 13 <= len(digits) <= 19 and _NETWORK.match(digits) and luhn_ok(digits):
        return digits
    return None


def card_numbers(text: str) -> Iterator[str]:
    """The card numbers in ``text``, as bare digits (never store them: mask them)."""
    for match in _CARD.finditer(text):
        digits = _card(match.group())
        if digits is not None:
            yield digits


def mask_card(digits: str) -> str:
    """``4111111111111111`` -> ``**** **** **** 1111``."""
    return "**** **** **** " + digits[-4:]


def _mask_card_run(match: re.Match[str]) -> str:
    digits = _card(match.group())
    return match.group() if digits is None else mask_card(digits)


def mask_cards(text: str) -> str:
    """``text`` with every card number in it masked, escaped binary around it included."""
    if "\\" in text:
        parts = _ESCAPE.split(text)  # escapes at odd indexes: never part of a card
        parts[::2] = [_CARD.sub(_mask_card_run, part) for part in parts[::2]]
        return "".join(parts)
    return _CARD.sub(_mask_card_run, text)


def is_secret_param(name: str) -> bool:
    """Whether a query parameter's value should be masked (judged by its name alone)."""
    if _SECRET_PART.search(name.lower()):
        return True
    return any(_SECRET_WORD.fullmatch(word.lower()) for word in _WORD.findall(name))


def is_secret_header(name: str, extra_names: Iterable[str] = ()) -> bool:
    """Whether a header's value is a secret: credentials, cookies, tokens, or a named extra."""
    lowered = name.strip().lower()
    if lowered in _SECRET_HEADERS or _SECRET_HEADER_PART.search(lowered):
        return True
    return any(lowered == extra.strip().lower() for extra in extra_names)


def redact_url(url: str) -> str:
    """``url`` without userinfo and with secret-looking query values masked.

    Everything else (scheme, host, port, path, other parameters, fragment) is kept as written,
    so the result still identifies the target. Userinfo of URLs nested in the query goes too.
    Text that does not parse as a URL is returned with anything that looks like userinfo
    removed and secret-looking ``name=value`` pairs masked.
    """
    try:
        parts = urlsplit(url)
        hostport = parts.netloc.rpartition("@")[2]
    except ValueError:
        return _QUERY_PAIR.sub(lambda m: _redact_pair(m.group(1)), _USERINFO.sub("", url))
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    text = urlunsplit(SplitResult(parts.scheme, hostport, parts.path, query, parts.fragment))
    return _USERINFO.sub("", text)  # a URL nested in the query (``?next=https://u:p@...``)


def _redact_pair(pair: str) -> str:
    name, sep, value = pair.partition("=")
    if sep and value and is_secret_param(name):
        return f"{name}={MASK}"
    return pair


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]], extra_names: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of ``headers`` with secret values masked (see ``is_secret_header``).

    Accepts a mapping (a multidict's repeated names collapse to the last) or (name, value) pairs.
    """
    extra = tuple(extra_names)
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name: MASK if is_secret_header(name, extra) else value for name, value in items}


def encodings(secret: str) -> set[str]:
    """``secret`` as a target may echo it back: as written, URL-encoded (``%2F``, ``+`` for
    a space) and inside a JSON string."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe=""), json.dumps(secret)[1:-1]}


class Redactor:
    """Replaces known secret strings in text with ``<redacted>`` and masks card numbers.

    Holds the secrets the agent knows (expanded ``${ENV}`` values, file contents, passwords),
    and masks each as written, URL-encoded or JSON-escaped, longest first so a secret that
    contains another is masked whole. Secrets shorter than 4 characters are ignored: masking
    every ``a`` or ``42`` would wreck messages and protect nothing. URL userinfo
    (``scheme://user:pass@``) is always removed, known or not, and so is every card number.
    Immutable: a reload builds a new one.
    """

    __slots__ = ("_extended", "_pattern", "secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: frozenset[str] = frozenset(s for s in secrets if s and len(s) >= 4)
        forms = {form for secret in self.secrets for form in encodings(secret)}
        ordered = sorted(forms, key=lambda s: (-len(s), s))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._extended: dict[frozenset[str], Redactor] = {}

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        """A Redactor that knows these secrets as well (this one when they add nothing).

        Every run of a probe with credentials asks for the same few: the answer is kept, so
        building a pattern is paid once per set of secrets, not once per run.
        """
        more = frozenset(s for s in secrets if s and len(s) >= 4) - self.secrets
        if not more:
            return self
        extended = self._extended.get(more)
        if extended is None:
            if len(self._extended) >= _KEPT_EXTENSIONS:
                self._extended.clear()  # rotating tokens: never grow without bound
            extended = self._extended[more] = Redactor((*self.secrets, *more))
        return extended

    def scrub(self, text: str) -> str:
        """``text`` with every known secret, any URL userinfo and any card number masked."""
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        if "://" in text:
            text = _USERINFO.sub(f"{MASK}@", text)
        return mask_cards(text)

    def log_filter(self) -> RedactingFilter:
        return RedactingFilter(self)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs each record's message, arguments and traceback text.

    The message is formatted here (``msg % args``) and the args dropped, because a secret may
    only appear once they are combined. Install it on handlers so records from every logger
    pass through it. Never drops a record.
    """

    def __init__(self, redactor: Redactor | Callable[[], Redactor]) -> None:
        """A Redactor, or a function returning the current one (a reload brings new secrets)."""
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        current = self.redactor
        scrub = (current if isinstance(current, Redactor) else current()).scrub
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep what we can, scrubbed
            message = f"{record.msg} {record.args}"
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True
