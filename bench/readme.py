"""The README's measured blocks: each run rewrites its own, between two markers, so the
figures people read are the last run's and nobody copies them by hand."""

from __future__ import annotations

import re
from pathlib import Path


def markers(name: str, command: str) -> tuple[str, str]:
    return f"<!-- {name}:begin (written by {command}) -->", f"<!-- {name}:end -->"


def replace_block(path: Path, name: str, command: str, lines: list[str]) -> bool:
    """Put ``lines`` between the ``name`` markers; a README without them is left alone
    (False), so a run against another checkout's README never writes a stray block."""
    begin, end = markers(name, command)
    text = path.read_text()
    if begin not in text or end not in text:
        return False
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    block = "\n".join([begin, *lines, end])
    path.write_text(pattern.sub(lambda _: block, text))
    return True
