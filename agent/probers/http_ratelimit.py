"""Headroom from a partner's answers: rate-limit headers read into remaining quota and its ratio.

Understood, first found wins:

- ``RateLimit: limit=100, remaining=40, reset=30`` (IETF draft, one field) or the structured
  form ``RateLimit: "default";r=40;t=30`` with ``RateLimit-Policy: "default";q=100;w=60``;
- ``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (IETF draft: reset in seconds);
- ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (GitHub and others: reset in seconds
  or as a unix time, told apart by size);
- ``Retry-After`` (seconds or an HTTP date) gives the reset; on a 429 the quota is spent.

A list such as ``100, 1000;w=3600`` counts by its first (tightest) entry. A header that does
not parse is ignored: a partner's odd header must never fail a probe.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from agent.conditions.facts import Fact, FactType
from agent.probers.base import ProbeContext
from agent.probers.capacity import record
from agent.results import Reason

RESOURCE = "quota:requests"
_EPOCH_AFTER = 1e9  # an X-RateLimit-Reset larger than this is a unix time, not a delay
_PARAM = re.compile(r"""([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("[^"]*"|[^,;\s]+)""")


@dataclass(frozen=True, slots=True)
class Quota:
    limit: float | None
    remaining: float | None
    reset: float | None  # seconds from now until the quota refills

    @property
    def remaining_ratio(self) -> float | None:
        if self.limit is None or self.remaining is None or self.limit <= 0:
            return None
        return max(0.0, min(1.0, self.remaining / self.limit))


def parse_quota(headers: Mapping[str, str], status: int, now: float) -> Quota | None:
    """The quota the headers announce, or None when they say nothing about one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    quota = (
        _combined(lowered)
        or _separate(lowered, "ratelimit-", epoch=False, now=now)
        or _separate(lowered, "x-ratelimit-", epoch=True, now=now)
    )
    retry = _retry_after(lowered.get("retry-after"), now)
    if quota is None and retry is None and status != 429:
        return None
    limit, remaining, reset = quota or (None, None, None)
    if status == 429 and remaining is None:
        remaining = 0.0
    return Quota(limit, remaining, reset if reset is not None else retry)


def record_ratelimit(ctx: ProbeContext, status: int, headers: Mapping[str, str]) -> None:
    """Facts ``[QUOTA_*]`` and, when limit and remaining are both known, the capacity reading
    ``quota:requests`` (used = limit - remaining)."""
    quota = parse_quota(headers, status, time.time())
    if quota is None:
        return
    for fact, value in (
        ("QUOTA_LIMIT", quota.limit),
        ("QUOTA_REMAINING", quota.remaining),
        ("QUOTA_RATIO", quota.remaining_ratio),
        ("QUOTA_RESET", quota.reset),
    ):
        if value is not None:
            ctx.facts[fact] = value
    if quota.limit is not None and quota.remaining is not None:
        record(ctx, RESOURCE, max(quota.limit - quota.remaining, 0.0), quota.limit)


def _combined(headers: Mapping[str, str]) -> tuple[float | None, ...] | None:
    field = headers.get("ratelimit")
    if field is None:
        return None
    params = {k.lower(): v.strip('"') for k, v in _PARAM.findall(field.split(",")[0])}
    if "r" in params or "q" in params:  # structured: "policy";r=..;t=.. (+ RateLimit-Policy)
        policy = {k.lower(): v for k, v in _PARAM.findall(headers.get("ratelimit-policy", ""))}
        limit = policy.get("q") or params.get("q")
        remaining, reset = params.get("r"), params.get("t")
    else:  # limit=.., remaining=.., reset=..
        params = {k.lower(): v.strip('"') for k, v in _PARAM.findall(field)}
        limit, remaining, reset = params.get("limit"), params.get("remaining"), params.get("reset")
    values = (_number(limit), _number(remaining), _number(reset))
    return values if values[1] is not None else None


def _separate(
    headers: Mapping[str, str], prefix: str, *, epoch: bool, now: float
) -> tuple[float | None, ...] | None:
    remaining = _number(headers.get(prefix + "remaining"))
    if remaining is None:
        return None
    reset = _number(headers.get(prefix + "reset"))
    if reset is not None and epoch and reset > _EPOCH_AFTER:
        reset = max(0.0, (reset / 1000 if reset > _EPOCH_AFTER * 1000 else reset) - now)
    return _number(headers.get(prefix + "limit")), remaining, reset


def _retry_after(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now) if when.tzinfo is not None else None


def _number(text: str | None) -> float | None:
    """The first entry of a list (``100, 1000;w=3600`` -> 100); None when not a number >= 0."""
    if text is None:
        return None
    first = text.split(",")[0].split(";")[0].strip().strip('"')
    try:
        value = float(first)
    except ValueError:
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


RATELIMIT_FACTS = (
    Fact("QUOTA_REMAINING", FactType.NUMBER, Reason.THRESHOLD, "requests left in the window"),
    Fact("QUOTA_LIMIT", FactType.NUMBER, Reason.CONDITION_FAILED, "requests per window"),
    Fact("QUOTA_RATIO", FactType.NUMBER, Reason.THRESHOLD, "share of the quota left, 0 to 1"),
    Fact("QUOTA_RESET", FactType.DURATION, Reason.CONDITION_FAILED, "time until it refills"),
)
