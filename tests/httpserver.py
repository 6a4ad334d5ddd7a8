"""A tiny threaded HTTP server on 127.0.0.1 for download tests (Range support, scripted faults)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Site:
    """Files served by path; ``drop_after[path] = n`` cuts the first response after n bytes."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}
        self.drop_after: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.base = ""

    def add(self, path: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        self.files[path] = (body, content_type)
        return self.base + path


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):  # noqa: N802 - http.server API
            site.requests.append((self.path, self.headers.get("Range")))
            if self.path not in site.files:
                self.send_error(404)
                return
            body, ctype = site.files[self.path]
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            cut = site.drop_after.pop(self.path, None)
            if cut is not None:
                self.wfile.write(chunk[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)

    return Handler


@contextlib.contextmanager
def serve(setup: Callable[[Site], None] | None = None) -> Iterator[Site]:
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    if setup:
        setup(site)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
