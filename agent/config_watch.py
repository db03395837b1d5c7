"""Notice that the config file changed: a stat of its path on the event loop, every second.

The agent reloads on its own when its file changes, as it does on SIGHUP and ``POST
/-/reload``. In Kubernetes the file is a ConfigMap volume: ``oversight.yaml`` is a symlink to
``..data/oversight.yaml`` and the kubelet updates it by writing a new timestamped directory and
renaming a temporary symlink over ``..data``; the file itself is never written in place.

Why polling, not inotify or a library: ``os.stat`` follows the symlinks, so the swap shows as
a new inode (and an edit in place as a new size, mtime or ctime) with nothing special for it;
inotify on the path would stay on the old inode and miss the swap, unless the directory is
watched for ``..data`` being renamed, which is Linux-only and Kubernetes-specific. watchdog and
watchfiles run a thread (or a Rust notifier thread) beside the loop; asyncinotify reads an
inotify descriptor on the loop but needs that symlink handling. A stat costs about 0.9 µs
(``python -m timeit``, on a 2-core VM): once a second it is a millionth of a core, on the
loop, with no thread and no dependency, and it works on every file system (NFS included, where
inotify sees no change made from another host).

Debounced: a change counts once the file has looked the same for one whole interval, so a
file written in several steps (an editor truncating, then writing) is read whole.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger("oversight.agent")

DEFAULT_INTERVAL = 1.0  # seconds between two looks at the file

Signature = tuple[int, int, int, int, int] | None  # device, inode, size, mtime, ctime; None: gone


def signature(path: Path) -> Signature:
    """What changes when the file (the symlinks' target) is replaced or written."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


async def watch(path: Path, interval: float, changed: Callable[[], Awaitable[object]]) -> None:
    """Call ``changed`` each time the file at ``path`` has changed and then held still for
    ``interval`` seconds; runs until cancelled. A file that disappears counts as a change
    (the reload then says it cannot be read), and so does its return."""
    seen = candidate = signature(path)
    while True:
        await asyncio.sleep(interval)
        now = signature(path)
        if now == seen:
            candidate = seen
        elif now != candidate:
            candidate = now  # changed since the last look: wait for it to hold still
        else:
            seen = now
            try:
                await changed()
            except Exception:  # the watch outlives a failed reload, which says why itself
                log.exception("reloading the changed config failed")
