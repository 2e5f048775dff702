"""Open-loop HTTP load at a fixed rate, for the overload run of `serve.py` (wrk2 is not packaged).

    python bench/loadgen.py --url http://127.0.0.1:8080/invocations --body split.body \
        --content-type application/json --rate 2000 --duration 6 --timeout 5

Request i is due at start + i / rate whether or not earlier ones were answered (open loop, as
wrk2 does). Each due request goes out on an idle keep-alive connection, or a new one while fewer
than --max-connections are open; when none is free it waits in the generator, and its latency
still counts from the moment it was due (no coordinated omission). Prints one JSON object: the
rate actually offered, the latency percentiles of the 200s, the count of each status (and of 503s
without Retry-After), client timeouts and socket errors. Raw sockets on asyncio (uvloop when
installed): a few thousand requests per second from one core.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Tally:
    latencies_ok: list[float] = field(default_factory=list)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    no_retry_after: int = 0
    timeouts: int = 0
    never_sent: int = 0
    socket_errors: int = 0
    sent: int = 0
    max_connections_used: int = 0


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport instances
        self.buffer = bytearray()
        self.due = 0.0
        """When the request in flight was due (loop time); 0 when idle."""
        self.dead = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send(self, due: float) -> None:
        self.due = due
        self.buffer.clear()
        self.transport.write(self.gen.request)
        self.gen.tally.sent += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head.split(b" ", 2)[1])
        close = b"\r\nconnection: close" in head
        retry_after = b"\r\nretry-after:" in head
        self.gen.finished(self, status, retry_after)
        if close:
            self.lost()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.dead:
            self.lost(error=self.due > 0)

    def lost(self, error: bool = False) -> None:
        self.dead = True
        if error:
            self.gen.tally.socket_errors += 1
        self.due = 0.0
        self.gen.forget(self)
        if self.transport is not None:
            self.transport.close()


class Generator:
    def __init__(self, args: argparse.Namespace) -> None:
        url = urlsplit(args.url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        body = Path(args.body).read_bytes()
        headers = [
            f"POST {url.path or '/'} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Type: {args.content_type}",
            f"Content-Length: {len(body)}",
            *(args.header or []),
        ]
        self.request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
        self.rate = args.rate
        self.duration = args.duration
        self.timeout = args.timeout
        self.max_connections = args.max_connections
        self.tally = Tally()
        self.idle: collections.deque[Connection] = collections.deque()
        self.busy: set[Connection] = set()
        self.opening = 0
        self.waiting: collections.deque[float] = collections.deque()
        """Due times of requests for which no connection was free."""
        self.loop = asyncio.get_running_loop()

    def finished(self, conn: Connection, status: int, retry_after: bool) -> None:
        now = self.loop.time()
        tally = self.tally
        tally.statuses[status] += 1
        if status == 200:
            tally.latencies_ok.append(now - conn.due)
        elif status == 503 and not retry_after:
            tally.no_retry_after += 1
        conn.due = 0.0
        self.busy.discard(conn)
        self.dispatch(conn)

    def forget(self, conn: Connection) -> None:
        self.busy.discard(conn)
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    def dispatch(self, conn: Connection) -> None:
        """Give an idle connection the oldest waiting request, or park it."""
        if conn.dead:
            return
        if self.waiting:
            self.busy.add(conn)
            conn.send(self.waiting.popleft())
        else:
            self.idle.append(conn)

    def open_count(self) -> int:
        return len(self.idle) + len(self.busy) + self.opening

    async def open(self) -> None:
        self.opening += 1
        try:
            _, conn = await self.loop.create_connection(
                lambda: Connection(self), self.host, self.port
            )
        except OSError:
            self.tally.socket_errors += 1
            return
        finally:
            self.opening -= 1
        self.tally.max_connections_used = max(self.tally.max_connections_used, self.open_count())
        self.dispatch(conn)

    def reap(self, now: float) -> None:
        """Requests past the client timeout: counted, their connections closed."""
        for conn in [c for c in self.busy if now - c.due > self.timeout]:
            self.tally.timeouts += 1
            conn.due = 0.0
            conn.lost()
        while self.waiting and now - self.waiting[0] > self.timeout:
            self.waiting.popleft()
            self.tally.never_sent += 1

    async def run(self) -> dict[str, Any]:
        start = self.loop.time()
        due_count = 0
        last_reap = start
        tasks: set[asyncio.Task[None]] = set()
        while True:
            now = self.loop.time()
            if now - start < self.duration:
                target = int((now - start) * self.rate)
                while due_count < target:
                    due = start + due_count / self.rate
                    due_count += 1
                    if self.idle:
                        conn = self.idle.popleft()
                        self.busy.add(conn)
                        conn.send(due)
                    else:
                        self.waiting.append(due)
                        if self.open_count() < self.max_connections:
                            task = asyncio.ensure_future(self.open())
                            tasks.add(task)
                            task.add_done_callback(tasks.discard)
            elif not self.busy and not self.waiting:
                break
            elif now - start > self.duration + self.timeout + 1:
                break
            if now - last_reap > 0.05:
                self.reap(now)
                last_reap = now
            await asyncio.sleep(0.001)
        elapsed = self.loop.time() - start
        for conn in list(self.idle) + list(self.busy):
            conn.dead = True
            if conn.transport is not None:
                conn.transport.close()
        return self.summary(due_count, elapsed)

    def summary(self, due: int, elapsed: float) -> dict[str, Any]:
        tally = self.tally
        ok = sorted(tally.latencies_ok)

        def pct(p: float) -> float | None:
            return ok[min(len(ok) - 1, int(p * len(ok)))] * 1e3 if ok else None

        return {
            "target_rate": self.rate,
            "offered_rate": tally.sent / self.duration,
            "due": due,
            "sent": tally.sent,
            "elapsed_s": elapsed,
            "ok": len(ok),
            "ok_rate": len(ok) / self.duration,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": ok[-1] * 1e3 if ok else None,
            "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
            "503_without_retry_after": tally.no_retry_after,
            "timeouts": tally.timeouts,
            "never_sent": tally.never_sent,
            "socket_errors": tally.socket_errors,
            "connections": tally.max_connections_used,
        }


async def _main(args: argparse.Namespace) -> None:
    result = await Generator(args).run()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="file holding the request body")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--header", action="append", help="extra 'Name: value' header")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of sending")
    parser.add_argument("--timeout", type=float, default=5.0, help="client timeout, seconds")
    parser.add_argument("--max-connections", type=int, default=1024)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
