"""A node whose HTTP health endpoint answers 200 long before it is ready.

    python http_health_node.py --port P --ready-after S

``GET /health`` answers 200 with body ``{"status": "starting"}`` for the first
S seconds, then ``{"status": "ready"}``: a status probe that only looks at the
code calls it up too early. Standard library only.
"""

from __future__ import annotations

import argparse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.monotonic()
READY_AFTER_S = 0.0


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ready = time.monotonic() - STARTED >= READY_AFTER_S
        body = b'{"status": "ready"}' if ready else b'{"status": "starting"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the node log is for distlab's start lines


def main() -> None:
    global READY_AFTER_S
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-after", type=float, default=1.0)
    args = parser.parse_args()
    READY_AFTER_S = args.ready_after
    ThreadingHTTPServer(("127.0.0.1", args.port), Health).serve_forever()


if __name__ == "__main__":
    main()
