"""Text a target sent, made fit to show: one line, non-printables escaped, length capped.

A failure message or a condition's observed value may carry whatever a target answered:
4 KiB of binary, a megabyte header, a line break that would forge a log line. Every such text
passes ``bounded`` where the Result is built (agent/runner.py), so the status API, the page,
the logs, the spans and the reports all show the same few hundred characters, and say how
long the original was. Scrub secrets before bounding: a cut can split a secret in two.
"""

from __future__ import annotations

MESSAGE_LIMIT = 300  # characters of a failure message or condition outcome, suffix included
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` on one line of at most ``limit`` characters.

    Non-printable characters are shown escaped (``\\x00``, ``\\n``, ``\\u2028``); printable
    ones, accents and all, are kept. A longer text is cut and ends with its original length:
    ``first part… (12,043 characters)``.
    """
    if len(text) <= limit and text.isprintable():
        return text
    pieces: list[str] = []
    size = 0
    for char in text:
        piece = char if char.isprintable() else _escaped(char)
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            break
    else:
        return "".join(pieces)  # escaped, it still fits
    suffix = f"… ({len(text):,} characters)"
    budget, kept = limit - len(suffix), 0
    while kept < len(pieces) and budget >= len(pieces[kept]):
        budget -= len(pieces[kept])
        kept += 1
    return "".join(pieces[:kept]) + suffix
