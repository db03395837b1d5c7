"""Which shard owns a probe, and which shard this agent is.

Shards are numbered 0..n-1 and a probe belongs to exactly one of them, chosen from its id
(``pattern/integration/probe``) by a stable hash, so every agent reading the same config
agrees without talking to the others. The hash is BLAKE2b (the same in every process, unlike
Python's ``hash()``), and the shard is picked from it by jump consistent hashing (Lamping and
Veach, 2014) rather than ``hash mod n`` as Prometheus's ``hashmod`` does: going from n to n+1
shards moves only the probes the new shard takes, 1/(n+1) of them, where ``mod`` would move
n/(n+1). A reshard from 3 to 4 moves a quarter of the probes, not three quarters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_SHARDS = 10_000

# The pod's ordinal: the StatefulSet's pod-index label, else the trailing -<k> of its name.
ORDINAL_VARIABLES = ("OVERSIGHT_POD_INDEX", "POD_NAME", "HOSTNAME")
_TRAILING_ORDINAL = re.compile(r"-(\d+)$")
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A shard that cannot be used; the message names where it came from."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``total``, written ``index/total`` (``1/4``)."""

    index: int
    total: int

    def __post_init__(self) -> None:
        if not 1 <= self.total <= MAX_SHARDS:
            raise ShardError(f"the number of shards must be 1 to {MAX_SHARDS}, not {self.total}")
        if not 0 <= self.index < self.total:
            raise ShardError(
                f"shard index {self.index} is not one of 0..{self.total - 1} "
                f"(shards are numbered from 0)"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    def owns(self, key: str) -> bool:
        """Whether this shard runs the probe with id ``key``."""
        return owner(key, self.total) == self.index


def parse_shard(text: str) -> Shard:
    """``i/n`` -> Shard(i, n); raises ShardError saying what is wrong."""
    match = _SHARD.match(text)
    if match is None:
        raise ShardError(f"{text!r} is not a shard: write index/total, e.g. 0/4 (from 0 to 3)")
    return Shard(int(match.group(1)), int(match.group(2)))


def owner(key: str, total: int) -> int:
    """The shard (0..total-1) that owns ``key``: jump consistent hash of its BLAKE2b digest."""
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    return jump(digest, total)


def jump(key: int, buckets: int) -> int:
    """Lamping and Veach's jump consistent hash: a 64-bit key to one of ``buckets`` buckets,
    evenly, moving only 1/(n+1) of the keys when a bucket is added at the end."""
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_from_environment(env: Mapping[str, str]) -> Shard | None:
    """The shard the environment asks for, or None (run every probe).

    ``OVERSIGHT_SHARD=i/n`` names it. ``OVERSIGHT_SHARDS=n`` asks for n shards and takes this
    pod's ordinal k from ``OVERSIGHT_POD_INDEX``, else from the trailing ``-k`` of
    ``POD_NAME`` or ``HOSTNAME``: the shard is k mod n, so in a StatefulSet of 2n pods, pods k
    and k+n run the same shard (an HA pair). Raises ShardError naming the variable.
    """
    explicit = (env.get("OVERSIGHT_SHARD") or "").strip()
    if explicit:
        try:
            return parse_shard(explicit)
        except ShardError as error:
            raise ShardError(f"OVERSIGHT_SHARD: {error}") from None
    count = (env.get("OVERSIGHT_SHARDS") or "").strip()
    if not count:
        return None
    if not count.isdigit() or not 1 <= int(count) <= MAX_SHARDS:
        raise ShardError(
            f"OVERSIGHT_SHARDS: {count!r} is not a number of shards (1 to {MAX_SHARDS})"
        )
    ordinal = pod_ordinal(env)
    if ordinal is None:
        raise ShardError(
            "OVERSIGHT_SHARDS is set but this pod's ordinal is unknown: set "
            "OVERSIGHT_POD_INDEX, or a POD_NAME or HOSTNAME ending in -<ordinal>, "
            "or give OVERSIGHT_SHARD=i/n instead"
        )
    return Shard(ordinal % int(count), int(count))


def pod_ordinal(env: Mapping[str, str]) -> int | None:
    """This pod's ordinal in its StatefulSet, from the first of ``ORDINAL_VARIABLES`` that
    gives one; None when none does. An index that is set but not a number is an error."""
    index = (env.get("OVERSIGHT_POD_INDEX") or "").strip()
    if index:
        if not index.isdigit():
            raise ShardError(f"OVERSIGHT_POD_INDEX: {index!r} is not a pod ordinal (0, 1, ...)")
        return int(index)
    for variable in ORDINAL_VARIABLES[1:]:
        match = _TRAILING_ORDINAL.search((env.get(variable) or "").strip())
        if match is not None:
            return int(match.group(1))
    return None
