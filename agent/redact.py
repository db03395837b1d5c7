"""Secret scrubbing at the edges: URLs, headers, and known secret strings in free text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import SplitResult, urlsplit, urlunsplit

MASK = "<redacted>"

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


class Redactor:
    """Replaces known secret strings in text with ``<redacted>``.

    Holds the secrets the agent knows (expanded ``${ENV}`` values, file contents, passwords),
    longest first so a secret that contains another is masked whole. Secrets shorter than 4
    characters are ignored: masking every ``a`` or ``42`` would wreck messages and protect
    nothing. URL userinfo (``scheme://user:pass@``) is always removed, known or not.
    Immutable: a reload builds a new one.
    """

    __slots__ = ("_pattern", "secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: frozenset[str] = frozenset(s for s in secrets if s and len(s) >= 4)
        ordered = sorted(self.secrets, key=lambda s: (-len(s), s))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        """A new Redactor that knows these secrets as well."""
        return Redactor((*self.secrets, *secrets))

    def scrub(self, text: str) -> str:
        """``text`` with every known secret and any URL userinfo masked."""
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _USERINFO.sub(f"{MASK}@", text) if "://" in text else text

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
