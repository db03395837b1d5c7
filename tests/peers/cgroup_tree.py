"""A cgroup v2 tree in a temporary directory, laid out as a process sees its own in /proc."""

from __future__ import annotations

from pathlib import Path

import pytest


def fake_cgroup(pid: int, directory: Path) -> tuple[Path, Path]:
    """``(mount, group)``: a mount point with ``cgroup.controllers`` and the directory of
    ``pid``'s cgroup below it (the mount itself when the process sits at ``/``, as in a
    container). Limits are written by the test. Skips where processes have no cgroup v2 entry.
    """
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    relative = next((line[3:] for line in lines if line.startswith("0::")), None)
    if relative is None or relative.startswith("/.."):
        pytest.skip("no cgroup v2 entry for processes on this machine")
    mount = directory / "cgroup"
    group = mount / relative.lstrip("/")
    group.mkdir(parents=True, exist_ok=True)
    (mount / "cgroup.controllers").write_text("cpu memory pids\n")
    return mount, group
