"""A fault-injecting reverse proxy for an S3 store: 500, 503, SlowDown, resets, stalls and
truncated answers, on the requests a rule names, a given number of times.

Why a proxy rather than a mocked client: the platform reaches its store through three
different HTTP stacks (boto3 for landing and the sharing service, delta-rs's Rust object
store for history tables, and any partner's client for presigned URLs). A proxy in front of
the real store (versitygw) fails all of them the same way, on the wire, and their own retry
and timeout settings are what gets tested.

The proxy forwards every request byte for byte and keeps its ``Host`` header, so SigV4
signatures (headers and presigned URLs), which cover the host, still verify at the store when
clients are pointed at the proxy's address. Answers are read whole from the store and passed
on with their ``Content-Length``: the stores of the tests hold small objects.

Used by ``tests/integration/test_storage_faults.py`` and ``benchmarks/storage_faults.py``;
nothing in the platform imports it.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

#: The faults the proxy can inject.
FAULTS = ("500", "503", "slowdown", "reset", "stall", "truncate")

#: Faults answered with an S3 error document: (HTTP status, S3 code, message).
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
}

#: Hop-by-hop headers of the store's answer that the proxy does not pass on as they are.
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Rule:
    """Which requests fail, how, and how many times (``times`` < 0: every time).

    ``path`` is a regular expression searched in the request path (without the query);
    ``query`` a marker that must appear among the query's parameter names (``uploads``,
    ``partNumber``, ``list-type``); ``seconds`` is how long a ``stall`` waits before it
    forwards the request; ``label`` names the rule in the proxy's counts.
    """

    fault: str
    method: str | None = None
    path: str = ""
    query: str | None = None
    times: int = 1
    seconds: float = 0.0
    label: str = ""

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str, query: str) -> bool:
        """Whether a request is one this rule names (its remaining count aside)."""
        if self.method is not None and method != self.method:
            return False
        if self.query is not None:
            names = {part.split("=", 1)[0] for part in query.split("&") if part}
            if self.query not in names:
                return False
        return bool(self._pattern.search(path))


@dataclass
class RandomFaults:
    """A fault on a fraction ``rate`` of the requests that ``where`` matches, the kind drawn
    from ``faults``, from a seeded generator (the same seed, the same draws in order)."""

    rate: float
    seed: int
    faults: tuple[str, ...] = ("500", "503", "slowdown", "reset")
    where: Rule | None = None
    seconds: float = 0.0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        self._rng = random.Random(self.seed)

    def draw(self, method: str, path: str, query: str) -> str | None:
        if self.where is not None and not self.where.matches(method, path, query):
            return None
        if self._rng.random() >= self.rate:
            return None
        return self._rng.choice(self.faults)


@dataclass(frozen=True)
class Injected:
    """One fault the proxy injected: what, on which request, by which rule."""

    fault: str
    method: str
    path: str
    query: str
    label: str


class FaultProxy:
    """A threaded HTTP reverse proxy on 127.0.0.1 in front of ``upstream`` (``host:port``).

    ``with FaultProxy("127.0.0.1:9000") as proxy:`` serves on ``proxy.endpoint``; rules are
    added with :meth:`add` (tried in order, the first that matches and has a count left
    applies), a random mode with :meth:`random`; :attr:`injected` lists what was injected.
    """

    def __init__(self, upstream: str, port: int = 0) -> None:
        self.upstream = upstream.removeprefix("http://").rstrip("/")
        self.rules: list[Rule] = []
        self.chaos: RandomFaults | None = None
        self.injected: list[Injected] = []
        self.forwarded = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def add(self, *rules: Rule) -> None:
        """Add rules behind the ones already there."""
        with self._lock:
            self.rules.extend(rules)

    def random(self, chaos: RandomFaults | None) -> None:
        """Start (or, with None, stop) the seeded random mode."""
        with self._lock:
            self.chaos = chaos

    def clear(self) -> None:
        """Remove every rule and the random mode: requests pass again."""
        with self._lock:
            self.rules.clear()
            self.chaos = None

    def counts(self) -> Counter[str]:
        """How many of each fault were injected."""
        with self._lock:
            return Counter(i.fault for i in self.injected)

    def choose(self, method: str, path: str, query: str) -> tuple[str, float] | None:
        """The fault for this request (and a stall's seconds), counted; None: pass it on."""
        with self._lock:
            for rule in self.rules:
                if rule.times != 0 and rule.matches(method, path, query):
                    if rule.times > 0:
                        rule.times -= 1
                    self.injected.append(Injected(rule.fault, method, path, query, rule.label))
                    return rule.fault, rule.seconds
            if self.chaos is not None:
                fault = self.chaos.draw(method, path, query)
                if fault is not None:
                    self.injected.append(Injected(fault, method, path, query, "random"))
                    return fault, self.chaos.seconds
            self.forwarded += 1
        return None


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        owner = proxy

    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients expect of S3
    owner: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test's or benchmark's output is its own."""

    def _body(self) -> bytes:
        """The request's body exactly as sent (a chunked one with its chunk framing)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raw = bytearray()
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, up to the empty line
                        trailer = self.rfile.readline()
                        raw += trailer
                        if trailer in (b"\r\n", b"\n", b""):
                            return bytes(raw)
                raw += self.rfile.read(size + 2)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._body()
        path, _, query = self.path.partition("?")
        chosen = self.owner.choose(self.command, path, query)
        fault, seconds = chosen if chosen else (None, 0.0)
        if fault == "reset":
            self._reset()
            return
        if fault in _ERRORS:
            self._error(*_ERRORS[fault])
            return
        if fault == "stall":
            time.sleep(seconds)
        try:
            status, reason, headers, data = self._forward(body)
        except OSError:
            self._reset()
            return
        if fault == "truncate" and len(data) > 1:
            self._answer(status, reason, headers, data, send=len(data) // 2)
            self._reset()
            return
        self._answer(status, reason, headers, data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.owner.upstream, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                conn.putheader(name, value)
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        finally:
            conn.close()

    def _answer(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        data: bytes,
        send: int | None = None,
    ) -> None:
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() not in _HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            length = next((v for n, v in headers if n.lower() == "content-length"), "0")
            self.send_header("Content-Length", length)
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data if send is None else data[:send])
        self.wfile.flush()

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{self.path.split('?', 1)[0]}</Resource>"
            "<RequestId>eb-fault-proxy</RequestId></Error>"
        ).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _reset(self) -> None:
        """Close the connection with a TCP reset (SO_LINGER 0): no answer, or no rest of one."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()
