"""Which shard owns a probe: stable, balanced, minimal moves on a reshard; which shard an agent
is, from ``i/n`` or a StatefulSet pod's environment."""

from __future__ import annotations

from collections import Counter

import pytest

from agent.sharding import Shard, ShardError, jump, owner, parse_shard, shard_from_environment

IDS = [f"{p}/i{n}/{probe}" for n in range(1500) for p in ("bill_pay", "account") for probe in "ab"]


def test_every_probe_has_exactly_one_owner_and_the_shards_are_even() -> None:
    counts = Counter(owner(key, 4) for key in IDS)
    assert set(counts) == {0, 1, 2, 3}
    assert sum(counts.values()) == len(IDS)
    for count in counts.values():
        assert abs(count - len(IDS) / 4) < 0.06 * len(IDS) / 4, counts


def test_the_owner_never_changes_between_processes_or_releases() -> None:
    """A fixed id keeps its shard: changing the hash would reshuffle every deployment (and
    Python's own hash() differs from one process to the next)."""
    assert [owner("bill_pay/processor/health", n) for n in (1, 2, 3, 4, 8)] == [0, 1, 2, 2, 6]
    assert [owner("account/ledger/port", n) for n in (1, 2, 3, 4, 8)] == [0, 1, 2, 2, 7]
    assert jump(0, 1) == 0 and jump(2**64 - 1, 1) == 0


@pytest.mark.parametrize(("before", "after"), [(3, 4), (4, 5), (1, 2), (7, 8)])
def test_adding_a_shard_moves_only_what_the_new_shard_takes(before: int, after: int) -> None:
    moved = [key for key in IDS if owner(key, before) != owner(key, after)]
    assert all(owner(key, after) == after - 1 for key in moved), "a probe moved between old shards"
    share = len(moved) / len(IDS)
    assert share == pytest.approx(1 / after, abs=0.03), share


def test_hash_mod_n_would_move_most_probes() -> None:
    """What jump hashing spares: with mod n, 3 -> 4 shards moves about three quarters."""
    digest = {key: hash(key) for key in IDS}  # any uniform hash shows it
    moved = sum(1 for key in IDS if digest[key] % 3 != digest[key] % 4)
    assert moved / len(IDS) > 0.7


@pytest.mark.parametrize(
    ("text", "shard"), [("0/1", Shard(0, 1)), ("3/4", Shard(3, 4)), (" 1 / 2 ", Shard(1, 2))]
)
def test_parse(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4/4", "shard index 4 is not one of 0..3 (shards are numbered from 0)"),
        ("1/0", "the number of shards must be 1 to 10000, not 0"),
        ("2", "'2' is not a shard: write index/total, e.g. 0/4 (from 0 to 3)"),
        ("-1/3", "'-1/3' is not a shard"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ShardError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_shard(text)


@pytest.mark.parametrize(
    ("env", "shard"),
    [
        ({}, None),
        ({"OVERSIGHT_SHARD": "2/3"}, Shard(2, 3)),
        ({"OVERSIGHT_SHARD": "2/3", "OVERSIGHT_SHARDS": "5", "POD_NAME": "p-1"}, Shard(2, 3)),
        # a StatefulSet of 2n pods: pods k and k+n run the same shard, k mod n
        ({"OVERSIGHT_SHARDS": "2", "OVERSIGHT_POD_INDEX": "0"}, Shard(0, 2)),
        ({"OVERSIGHT_SHARDS": "2", "OVERSIGHT_POD_INDEX": "1"}, Shard(1, 2)),
        ({"OVERSIGHT_SHARDS": "2", "OVERSIGHT_POD_INDEX": "2"}, Shard(0, 2)),
        ({"OVERSIGHT_SHARDS": "2", "OVERSIGHT_POD_INDEX": "3"}, Shard(1, 2)),
        # the pod-index label absent (the downward API gives an empty value): the pod's name
        ({"OVERSIGHT_SHARDS": "3", "OVERSIGHT_POD_INDEX": "", "POD_NAME": "prober-4"}, Shard(1, 3)),
        ({"OVERSIGHT_SHARDS": "3", "HOSTNAME": "oversight-prober-5"}, Shard(2, 3)),
        ({"OVERSIGHT_SHARDS": "3", "POD_NAME": "a-7", "HOSTNAME": "b-8"}, Shard(1, 3)),
        ({"OVERSIGHT_SHARDS": "1", "HOSTNAME": "x-9"}, Shard(0, 1)),
    ],
)
def test_shard_from_environment(env: dict[str, str], shard: Shard | None) -> None:
    assert shard_from_environment(env) == shard


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OVERSIGHT_SHARD": "1-of-3"}, "OVERSIGHT_SHARD: '1-of-3' is not a shard"),
        ({"OVERSIGHT_SHARD": "3/3"}, "OVERSIGHT_SHARD: shard index 3 is not one of 0..2"),
        ({"OVERSIGHT_SHARDS": "two", "POD_NAME": "p-1"}, "OVERSIGHT_SHARDS: 'two' is not a"),
        ({"OVERSIGHT_SHARDS": "0", "POD_NAME": "p-1"}, "OVERSIGHT_SHARDS: '0' is not a"),
        ({"OVERSIGHT_SHARDS": "2", "OVERSIGHT_POD_INDEX": "x"}, "OVERSIGHT_POD_INDEX: 'x' is not"),
        ({"OVERSIGHT_SHARDS": "2", "POD_NAME": "prober"}, "this pod's ordinal is unknown"),
    ],
)
def test_environment_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ShardError) as caught:
        shard_from_environment(env)
    assert str(caught.value).startswith(message) or message in str(caught.value)
