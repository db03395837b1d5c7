"""py-spy's raw (collapsed) stacks summed by function: where the agent's CPU goes."""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"\s*\(([^)]*?)(?::\d+)?\)$")
_ROOT = str(Path(__file__).resolve().parents[1]) + "/"


# Frames every sample of the main thread passes through: they say nothing.
_ROOT_FRAMES = (
    "<module>",
    "main (agent/cli.py)",
    "_run_module_as_main",
    "_run_code",
    "run (asyncio/runners.py)",
    "Runner.run",
    "BaseEventLoop.run_until_complete",
    "BaseEventLoop.run_forever",
    "BaseEventLoop._run_once",
)


def available() -> str | None:
    """py-spy beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _function(frame: str) -> str:
    """``name (path/file.py:12)`` -> ``name (file.py)``; the bench groups by function."""
    match = _LINE.search(frame)
    if not match:
        return frame.strip()
    where = match.group(1)
    for marker in ("site-packages/", "/lib/python3.11/", _ROOT):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{frame[: match.start()].strip()} ({where})"


def summarize(path: Path, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """The ``top`` functions by own and by inclusive share of samples (percent)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_function(f) for f in stack.split(";") if f]
        if not frames:
            continue
        own[frames[-1]] += samples
        for name in set(frames):
            if not name.startswith(_ROOT_FRAMES):
                inclusive[name] += samples
        groups[_group(stack)] += samples
    if not total:
        return {"own": [], "inclusive": [], "groups": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100 * n / total) for name, n in counter.most_common(top)]

    return {"own": share(own), "inclusive": share(inclusive), "groups": share(groups)}


# Which part of the stack a sample's innermost frame belongs to, innermost module first.
_GROUPS = (
    ("exporters/", "rendering /metrics"),
    ("agent/scheduler", "scheduler"),
    ("agent/evaluation", "state, thresholds"),
    ("agent/conditions", "conditions"),
    ("agent/store", "store"),
    ("agent/runner", "runner"),
    ("agent/probers", "http prober"),
    ("agent/", "agent (other)"),
    ("aiohttp/", "aiohttp"),
    ("aiohappyeyeballs/", "aiohttp"),
    ("yarl/", "aiohttp"),
    ("multidict/", "aiohttp"),
    ("asyncio/", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("socket", "sockets"),
)


def _group(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for needle, name in _GROUPS:
            if needle in frame:
                return name
    return "other"
