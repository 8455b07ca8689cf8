"""The smallest receiver: prints every delivery it gets and answers 204.

    .venv/bin/python examples/print_receiver.py            # http://127.0.0.1:9000/hook
    .venv/bin/python examples/print_receiver.py --port 9100

It listens where the ``curl`` line of ``modelhooks dev`` points its callback.
It does not verify signatures: docs/api.md ("Verifying a signature") and the
SDKs show how a real receiver does. Standard library only; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PrintDelivery(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)

        try:
            shown = json.dumps(json.loads(body), indent=2, sort_keys=True)
        except ValueError:
            shown = body.decode("utf-8", "replace")
        print(f"POST {self.path}  webhook-id: {self.headers.get('webhook-id')}",
              f"webhook-timestamp: {self.headers.get('webhook-timestamp')}",
              shown, sep="\n", flush=True)

        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # each delivery is printed above, once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000,
                        help="port on 127.0.0.1 (default 9000)")
    port = parser.parse_args().port

    server = ThreadingHTTPServer(("127.0.0.1", port), PrintDelivery)
    print(f"listening on http://127.0.0.1:{port}/hook", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
