"""The load process of `chairside bench`: GET requests per second against the cloud service.

    python -m app.services.bench_load URL PATH SECONDS CONNECTIONS [HEADER ...]

Run as its own process so that the service is measured, not the benchmark's own work
inside it. Each connection keeps one HTTP/1.1 keep-alive request in flight (as `wrk`
does); a lean client, since a full-featured Python HTTP client costs more per request
than the service does and would measure itself. Any answer but 200 stops the run.
Prints requests per second.

The connections are opened one at a time before the clock starts, as workstations connect
at different moments. Opened all at once, one service worker process tends to accept them
all, and the run measures one core of the two (measured: half the rate, in about one run
of two).
"""

import asyncio
import sys
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _requests(connection: Connection, request: bytes, stop_at: float, counts: list[int], slot: int) -> None:
    reader, writer = connection
    try:
        while time.perf_counter() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, _, header_block = head.partition(b"\r\n")
            status = status_line.split(b" ", 2)[1]
            length = 0
            for line in header_block.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            if status != b"200":
                raise RuntimeError(f"the service answered {status.decode()}: {body[:200]!r}")
            counts[slot] += 1
    finally:
        writer.close()


async def measure(url: str, path: str, seconds: float, connections: int, headers: list[str]) -> float:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    request = "\r\n".join(lines).encode()
    opened: list[Connection] = []
    for _ in range(connections):
        opened.append(await asyncio.open_connection(host, port))
        await asyncio.sleep(0.02)  # each accepted on its own: the workers share them out
    counts = [0] * connections
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(_requests(c, request, stop_at, counts, i) for i, c in enumerate(opened)))
    return sum(counts) / (time.perf_counter() - started)


def _run(measuring: Coroutine[Any, Any, float]) -> float:
    try:
        import uvloop  # the service's own event loop (uvicorn[standard]; not on Windows)
    except ImportError:
        return asyncio.run(measuring)
    return uvloop.run(measuring)


def main(argv: list[str]) -> None:
    url, path, seconds, connections, *headers = argv
    sys.stdout.write(f"{_run(measure(url, path, float(seconds), int(connections), headers))}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
