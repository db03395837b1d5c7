"""Documents written as they are made: the same JSON as the whole, in pieces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent.reporting.stream import Members, pieces, resolved

leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


def made(items: dict[str, Any], log: list[str]) -> Iterator[tuple[str, Any]]:
    for key, value in items.items():
        log.append(key)
        yield key, value


@given(st.dictionaries(st.text(max_size=6), values, max_size=40), st.integers(1, 7))
def test_the_pieces_join_to_the_whole_document(members: dict[str, Any], every: int) -> None:
    document = {"head": 1, "body": Members(made(members, [])), "tail": [1, "two"]}
    text = "".join(pieces(document, every))
    plain = {"head": 1, "body": members, "tail": [1, "two"]}
    assert json.loads(text) == plain
    assert text == json.dumps(plain, separators=(",", ":"))


def test_members_are_made_as_they_are_written_a_few_at_a_time() -> None:
    log: list[str] = []
    inner = {f"i{n}": {"n": n} for n in range(120)}
    document = {"patterns": Members(iter([("p", {"integrations": Members(made(inner, log))})]))}
    written = []
    for piece in pieces(document, every=50):
        written.append((piece, len(log)))
    # a piece at least every 50 integrations, each made only when its turn came
    assert len(written) >= 3
    assert [made_so_far for _, made_so_far in written[:2]] == [50, 100]
    assert json.loads("".join(p for p, _ in written)) == {
        "patterns": {"p": {"integrations": inner}}
    }


def test_resolved_makes_every_members_a_dict_in_order() -> None:
    counts = {"n": 0}

    def later() -> Iterator[tuple[str, int]]:
        yield "n", counts["n"]

    def integrations() -> Iterator[tuple[str, int]]:
        for n in range(3):
            counts["n"] += 1
            yield f"i{n}", n

    document = {"integrations": Members(integrations()), "summary": Members(later())}
    assert resolved(document) == {"integrations": {"i0": 0, "i1": 1, "i2": 2}, "summary": {"n": 3}}
