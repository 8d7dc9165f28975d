"""A loopback HTTP server for the weights tests (not a test module): no test reaches the internet.

``LoopbackFiles`` serves byte strings on 127.0.0.1 from a thread (``http.server``), answering Range
requests with 206 like download.pytorch.org does; it records every request's path and Range header,
can cut a body short once (``cut_after``: an interrupted download), trickle it (``trickle_s`` per
64 KiB: time to press Cancel), ignore ranges (``ranges``) or answer the wrong one
(``range_shift``). ``silent_server`` is a socket that accepts connections and never answers.
``registered`` puts a test file into the weights registry under a real name, with the test file's
own digest and a loopback URL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from xview_engine.weights import registry

PIECE = 2**16


class LoopbackFiles:
    """Files by URL path on a local server; ``url(name)`` is the address of one."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: int | None = None
        self.trickle_s = 0.0
        self.ranges = True
        self.range_shift = 0  # answer a Range request from this many bytes later than asked (a broken server)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                files.requests.append((name, self.headers.get("Range")))
                if name not in files.files:
                    self.send_error(404, "Not Found")
                    return
                self._send(files.files[name], self.headers.get("Range"))

            def _send(self, data: bytes, ranged: str | None) -> None:
                start = int(ranged[6:].split("-")[0]) + files.range_shift if ranged and files.ranges else 0
                if start >= len(data) > 0:
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if files.cut_after is not None:
                    body, files.cut_after = body[:files.cut_after], None
                for offset in range(0, len(body), PIECE):
                    self.wfile.write(body[offset:offset + PIECE])
                    self.wfile.flush()
                    time.sleep(files.trickle_s)

            def log_message(self, *args) -> None:  # quiet test output
                pass

        return Handler


@pytest.fixture
def loopback() -> Iterator[LoopbackFiles]:
    server = LoopbackFiles()
    yield server
    server.close()


@pytest.fixture
def online(monkeypatch):
    """Downloads on (tests/conftest.py turns them off), proxies off for the loopback address."""
    monkeypatch.delenv("XVIEW_OFFLINE", raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """The URL of a server that takes the connection (the kernel's backlog) and never says a word."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/never.pth"
    finally:
        sock.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: the connection is refused, as on a machine without network."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/resnet18-f37072fd.pth"


def registered(monkeypatch, name: str, data: bytes, server: LoopbackFiles | None = None, url: str | None = None,
               digest: str | None = "own") -> registry.WeightFile:
    """The registry's ``name`` pointed at a test file: served by ``server`` (or at ``url``), with ``data``'s
    SHA-256 (``digest='own'``) or ``digest`` as its published one. The file name carries no hash tag."""
    filename = f"test_{name.replace(':', '_')}.pth"
    if server is not None:
        server.files[filename] = data
        url = server.url(filename)
    assert url is not None
    entry = registry.REGISTRY[name]
    sha = hashlib.sha256(data).hexdigest() if digest == "own" else digest
    fake = dataclasses.replace(entry, url=url.rsplit("/", 1)[0] + "/" + filename, sha256=sha, size=len(data))
    monkeypatch.setitem(registry.REGISTRY, name, fake)
    return fake
