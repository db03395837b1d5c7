"""An OTLP/gRPC receiver on a given port, as a process the soak can stop and start again:
``python bench/collector.py --port P``. It records nothing; it answers until SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test suite's receiver

from tests.peers.otlp_receiver import GrpcReceiver, Sink


class Forgetful(Sink):
    """Answers every export and keeps none of it: a soak must not grow here either."""

    def take(self, request: object, headers: dict[str, str]) -> bool:
        with self.lock:
            self.calls += 1
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    receiver = GrpcReceiver(Forgetful(), args.port)
    receiver.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"OTLP receiver on 127.0.0.1:{receiver.port}", flush=True)
    stop.wait()
    receiver.stop()


if __name__ == "__main__":
    main()
