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

The proxy runs in a process of its own (:class:`FaultProxy` starts it and steers it over
HTTP, on paths under ``/__faults__/`` that are never forwarded): delta-rs holds the Python
interpreter's lock while it opens a table, so a proxy thread in the same process would stall
until the client's own timeout.

Used by ``tests/integration/test_storage_faults.py`` and ``benchmarks/storage_faults.py``;
nothing in the platform imports it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

#: The faults the proxy can inject.
FAULTS = ("500", "503", "slowdown", "reset", "stall", "truncate", "lost")

#: Faults answered with an S3 error document: (HTTP status, S3 code, message).
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
}

#: The path prefix of the controlling process's requests (never forwarded).
_CONTROL = "/__faults__/"

#: Hop-by-hop headers of the store's answer that the proxy does not pass on as they are.
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Rule:
    """Which requests fail, how, and how many times (``times`` < 0: every time).

    ``reset`` closes the connection before the request reaches the store; ``lost`` passes
    the request on and then closes the connection without the store's answer (the write
    happened, the client cannot know it).

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


class _Faults:
    """The proxy's state, in its own process: the rules, the random mode, what was injected."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.chaos: RandomFaults | None = None
        self.injected: list[Injected] = []
        self.forwarded = 0
        self.lock = threading.Lock()

    def choose(self, method: str, path: str, query: str) -> tuple[str, float] | None:
        """The fault for this request (and a stall's seconds), counted; None: pass it on."""
        with self.lock:
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

    def control(self, command: str, body: bytes) -> dict[str, Any]:
        """One request of the controlling process (``/__faults__/<command>``)."""
        data = json.loads(body) if body else None
        with self.lock:
            if command == "add":
                self.rules.extend(Rule(**r) for r in data)
            elif command == "random":
                where = data and data.pop("where", None)
                self.chaos = (
                    None
                    if data is None
                    else RandomFaults(
                        **{**data, "faults": tuple(data["faults"])},
                        where=Rule(**where) if where else None,
                    )
                )
            elif command == "clear":
                self.rules.clear()
                self.chaos = None
            elif command != "state":
                raise ValueError(f"unknown command {command!r}")
            return {
                "injected": [asdict(i) for i in self.injected],
                "forwarded": self.forwarded,
                "remaining": [r.times for r in self.rules],
            }


def _rule_dict(rule: Rule) -> dict[str, Any]:
    return {k: v for k, v in asdict(rule).items() if not k.startswith("_")}


class FaultProxy:
    """A fault proxy on 127.0.0.1 in front of ``upstream`` (``host:port``), in a process of
    its own for as long as the ``with`` block lasts.

    ``with FaultProxy("127.0.0.1:9000") as proxy:`` serves on ``proxy.endpoint``; rules are
    added with :meth:`add` (tried in order, the first that matches and has a count left
    applies), a random mode with :meth:`random`; :meth:`injected` lists what was injected.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://").rstrip("/")
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "enforcement_brain.faults", self.upstream],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self._process.kill()
            raise RuntimeError(f"the fault proxy did not start (it said {line!r})")
        self.port = int(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def _control(self, command: str, payload: Any = None) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            body = b"" if payload is None else json.dumps(payload).encode()
            conn.request("POST", f"{_CONTROL}{command}", body=body)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200:
                raise RuntimeError(f"fault proxy {command}: {answer.decode()[:300]}")
            return json.loads(answer)
        finally:
            conn.close()

    def add(self, *rules: Rule) -> None:
        """Add rules behind the ones already there."""
        self._control("add", [_rule_dict(r) for r in rules])

    def random(self, chaos: RandomFaults | None) -> None:
        """Start (or, with None, stop) the seeded random mode."""
        if chaos is None:
            self._control("random", None)
            return
        where = _rule_dict(chaos.where) if chaos.where else None
        self._control(
            "random",
            {
                "rate": chaos.rate,
                "seed": chaos.seed,
                "faults": list(chaos.faults),
                "seconds": chaos.seconds,
                "where": where,
            },
        )

    def clear(self) -> None:
        """Remove every rule and the random mode: requests pass again."""
        self._control("clear")

    def injected(self) -> list[Injected]:
        """Every fault injected so far, in order."""
        return [Injected(**i) for i in self._control("state")["injected"]]

    def remaining(self) -> list[int]:
        """How many more times each rule fails (-1: every time), in the order added."""
        return list(self._control("state")["remaining"])

    def forwarded(self) -> int:
        """Requests passed on to the store without a fault."""
        return int(self._control("state")["forwarded"])

    def counts(self) -> Counter[str]:
        """How many of each fault were injected."""
        return Counter(i.fault for i in self.injected())


def serve(upstream: str) -> None:
    """Run the proxy in this process on a free port of 127.0.0.1, printing the port first."""
    faults = _Faults(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(faults))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()


def _handler(proxy: _Faults) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        owner = proxy

    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients expect of S3
    owner: _Faults

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
        if path.startswith(_CONTROL):
            self._steer(path.removeprefix(_CONTROL), body)
            return
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
        if fault == "lost":  # the store did the work; its answer never arrives
            self._reset()
            return
        if fault == "truncate" and len(data) > 1:
            self._answer(status, reason, headers, data, send=len(data) // 2)
            self._reset()
            return
        self._answer(status, reason, headers, data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    def _steer(self, command: str, body: bytes) -> None:
        try:
            status, answer = 200, json.dumps(self.owner.control(command, body)).encode()
        except (ValueError, TypeError, KeyError) as exc:
            status, answer = 400, str(exc).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

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


if __name__ == "__main__":
    serve(sys.argv[1])
