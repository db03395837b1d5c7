"""The README's picture of the status page: starts ``oversight demo`` on a free loopback port,
waits until its fault timeline has something down and something degraded, and saves the page
as Chromium draws it.

    bash scripts/screenshot                      # docs/status-page.png
    python -m tests.browser.screenshot --out FILE --width 1000
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.browser.chromium import chromium, missing

ROOT = Path(__file__).resolve().parents[2]
SETTLE = 40.0  # seconds into the demo: the ledger is down, a processor slow, bars filling


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def summary(base: str) -> dict[str, int] | None:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/status", timeout=2) as answer:
            return dict(json.load(answer)["summary"])
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "status-page.png")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    reason = missing()
    if reason is not None:
        print(f"cannot take the screenshot: {reason}", file=sys.stderr)
        return 1
    base = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "agent.cli", "demo", "--listen", base[7:]]
    demo = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        while True:
            seen = summary(base)
            enough = seen is not None and seen["down"] >= 1 and seen["degraded"] >= 1
            if enough and time.monotonic() - started >= SETTLE:
                break
            if time.monotonic() - started > args.timeout or demo.poll() is not None:
                print(f"the demo did not reach a mixed state: {seen}", file=sys.stderr)
                return 1
            time.sleep(1)
        with chromium(args.width, 900) as browser:
            browser.get(base + "/")
            height = browser.execute_script("return document.documentElement.scrollHeight;")
            metrics = {
                "width": args.width,
                "height": height,
                "deviceScaleFactor": 1,
                "mobile": False,
            }
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(args.out))
    finally:
        demo.terminate()
        demo.wait(30)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
