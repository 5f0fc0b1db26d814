"""A fault-injecting HTTP proxy in front of moto's S3: what a bad day on S3 looks like to boto3.

Each request is forwarded to moto, or, for a share `rate` of the requests `match` accepts, one
fault is injected instead (chosen evenly among `faults`):

- `503`: S3's `SlowDown` answer; nothing reaches moto.
- `reset`: the connection is reset (TCP RST) before the request is forwarded.
- `truncate`: the request reaches moto (a write lands), then the answer is cut: the headers and
  half of the body when there is one, half of the headers otherwise, then a reset.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

FAULTS = ("503", "reset", "truncate")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}
SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")


class FaultyS3Proxy:
    """Start with `start()` (returns its URL), change `rate`/`faults`/`match` at any time."""

    def __init__(self, upstream: str, rate: float = 0.0, faults: tuple[str, ...] = FAULTS,
                 match: Callable[[str, str], bool] | None = None, seed: int = 20) -> None:
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rate, self.faults, self.match = rate, faults, match
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> str:
        threading.Thread(target=self._server.serve_forever, name="faulty-s3", daemon=True).start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def heal(self) -> None:
        self.rate = 0.0

    def _choose(self, method: str, path: str) -> str | None:
        """The fault for this request, or None to forward it untouched."""
        with self._lock:
            self.counts["requests"] += 1
            if self.match is not None and not self.match(method, path):
                return None
            if self._random.random() >= self.rate:
                return None
            fault = self._random.choice(self.faults)
            self.counts[fault] += 1
            return fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet: the test logs are the tests'
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers: dropped, the body is forwarded with a Content-Length
                    return data
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    payload = resp.read()
                    return resp.status, resp.reason, resp.getheaders(), payload
                finally:
                    conn.close()

            def _relay(self) -> None:
                body = self._body()
                fault = proxy._choose(self.command, self.path)
                if fault == "reset":
                    self._reset()
                    return
                if fault == "503":
                    self._answer(503, "Slow Down", [("Content-Type", "application/xml")], SLOW_DOWN)
                    return
                status, reason, headers, payload = self._forward(body)
                length = int({k.lower(): v for k, v in headers}.get("content-length", len(payload)))
                headers = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP | {"content-length"}]
                if fault == "truncate":
                    head = self._head(status, reason, headers, length)
                    if payload and self.command != "HEAD":
                        self.wfile.write(head + payload[: len(payload) // 2])
                    else:
                        self.wfile.write(head[: len(head) // 2])
                    self._reset()
                    return
                self._answer(status, reason, headers, payload, length)

            def _head(self, status: int, reason: str, headers: list[tuple[str, str]], length: int) -> bytes:
                lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers),
                         f"Content-Length: {length}", "Connection: close", "", ""]
                return "\r\n".join(lines).encode("latin-1")

            def _answer(self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes,
                        length: int | None = None) -> None:
                head = self._head(status, reason, headers, len(payload) if length is None else length)
                self.wfile.write(head + (b"" if self.command == "HEAD" else payload))
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler
