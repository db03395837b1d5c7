"""The pages' script and style sheet, served by the agent itself (no CDN, nothing inline, so a
``Content-Security-Policy: default-src 'self'`` header from the web config lets them run).

Each is named with a digest of its content (``status.js?v=1f2e...``), so a browser may keep
it for a day and still never runs an old script against a new agent.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

TYPES = {"status.css": "text/css", "status.js": "text/javascript"}
MAX_AGE = 86_400


@functools.cache
def asset(name: str) -> bytes:
    """The file's bytes; KeyError for a name that is not an asset."""
    if name not in TYPES:
        raise KeyError(name)
    return (resources.files("agent.reporting") / name).read_bytes()


@functools.cache
def asset_url(name: str, base: str = "") -> str:
    """``assets/status.js?v=<digest>``, relative to ``base`` (``../../../`` from a probe's page)."""
    digest = hashlib.sha256(asset(name)).hexdigest()[:12]
    return f"{base}assets/{name}?v={digest}"
