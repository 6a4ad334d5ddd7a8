"""A threaded HTTP server on 127.0.0.1 serving a mini mirror that each test builds, with fault injection."""

from __future__ import annotations

import io
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


@dataclass
class Route:
    body: bytes
    ctype: str = "image/png"
    status: int = 200
    drop_after: int | None = None  # send this many bytes, then cut the connection ...
    drops: int = 1  # ... this many times
    length: bool = True  # send Content-Length
    headers: dict[str, str] | None = None  # extra response headers (e.g. Location for a redirect)


@dataclass
class Hit:
    path: str
    range: str | None
    t: float
    user_agent: str


class MiniServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.log: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                with server._lock:
                    server.log.append(
                        Hit(self.path, self.headers.get("Range"), time.monotonic(), self.headers["User-Agent"])
                    )
                    route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                body, status = route.body, route.status
                rng = self.headers.get("Range")
                start = int(rng.split("=")[1].split("-")[0]) if rng and status == 200 else 0
                if start:
                    status = 206
                self.send_response(status)
                self.send_header("Content-Type", route.ctype)
                for k, val in (route.headers or {}).items():
                    self.send_header(k, val)
                if route.length:
                    self.send_header("Content-Length", str(len(body) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                data = body[start:]
                with server._lock:
                    drop = route.drop_after is not None and route.drops > 0
                    if drop:
                        route.drops -= 1
                if drop:
                    self.wfile.write(data[: route.drop_after])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, **kw) -> str:
        self.routes[path] = Route(body, **kw)
        return self.url + path

    def hits(self, path: str) -> list[Hit]:
        return [h for h in self.log if h.path == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _astronaut() -> np.ndarray:
    from skimage.data import astronaut

    return astronaut()


ASTRONAUT = _astronaut()


def image_bytes(i: int = 0, size: int = 64, fmt: str = "PNG", noise: bool = False) -> bytes:
    """A distinct real image (a crop of skimage's astronaut photo) encoded as ``fmt``."""
    y, x = (i * 37) % 256, (i * 53) % 256
    crop = ASTRONAUT[y : y + 256, x : x + 256]
    im = Image.fromarray(crop).resize((size, size))
    if noise:  # incompressible: a file of predictable size
        arr = np.random.default_rng(i).integers(0, 256, (size, size, 3), dtype=np.uint8)
        im = Image.fromarray(arr)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def assert_paced(server: MiniServer, interval: float, n: int, policy=None) -> None:
    """The server saw ``n`` requests paced by the client's per-host ``interval``.

    The client's own start times (``policy.starts``) must be spaced by the full interval; arrival times
    at the server carry connection jitter, so there only the overall span is checked (unpaced
    concurrent workers would arrive almost together).
    """
    times = sorted(h.t for h in server.log)
    assert len(times) == n, times
    assert times[-1] - times[0] >= (n - 1) * interval * 0.7, times
    if policy is not None:
        (starts,) = policy.starts.values()
        assert len(starts) == n
        assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= interval - 1e-9
