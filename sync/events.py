"""Live change notices from the cloud: listen to `GET /v1/sync/events` and say when to pull.

`ChangeListener` keeps one Server-Sent Events stream open on a background thread and calls
`on_change(cursor)` whenever the clinic's change sequence moves (and once per connect, with
the current value: a workstation compares it with its own cursor and pulls if behind). It
reconnects with jittered exponential backoff; a revoked workstation gets `on_revoked()` and
the listener ends. Callbacks run on the listener's thread: keep them short (post to the UI
thread, wake the sync loop) and let them not raise, since an exception ends the listener.
"""

import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx

from sync.client import CloudClient

log = logging.getLogger(__name__)

EVENTS_PATH = "/v1/sync/events"
# the server sends a keepalive every 15 s: 60 s without a byte means the link is dead
STREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=10.0, pool=5.0)
STREAM_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store", "Connection": "close"}


@dataclass(frozen=True)
class ServerEvent:
    event: str
    data: str
    id: str | None = None


class SseParser:
    """Server-Sent Events line parser after the WHATWG EventSource rules.

    Feed it lines without their line ending; a blank line dispatches the event gathered so
    far. Comments (`:`) and unknown fields are ignored, `data` lines join with newlines, an
    event without data is dropped, and `retry` is ignored (the listener has its own backoff).
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._last_id: str | None = None
        self._first = True

    def feed(self, line: str) -> ServerEvent | None:
        if self._first:
            self._first = False
            line = line.removeprefix("\ufeff")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._last_id = value
        return None

    def _dispatch(self) -> ServerEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerEvent(event, "\n".join(data), self._last_id)


def parse_lines(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """The events of a stream of lines; a last event not ended by a blank line is dropped."""
    parser = SseParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


class Backoff:
    """Delays of 0.5 s doubling to a 30 s cap, each scaled by a random 50-100% so that the
    workstations of a clinic do not all reconnect in the same instant after an outage."""

    def __init__(self, first: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        self.first, self.cap = first, cap
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 32)
        return delay * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._attempt = 0


class _StreamEnded(Exception):
    """The server closed the stream, or a read failed: reconnect after a pause."""


class ChangeListener:
    """One event stream for one workstation; `start()` it, `stop()` it (prompt even mid-read).

    It sends through the CloudClient's own httpx client, so base URL, token, schema header,
    CA trust and transport are the same as for sync; only the timeout is a streaming one.
    """

    def __init__(
        self,
        cloud: CloudClient,
        on_change: Callable[[int], None],
        *,
        on_revoked: Callable[[], None] | None = None,
        on_state: Callable[[bool], None] | None = None,
        stop: threading.Event | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._http = cloud.http
        self._on_change = on_change
        self._on_revoked = on_revoked
        self._on_state = on_state
        self.stop_event = stop or threading.Event()
        self._backoff = backoff or Backoff()
        self._online: bool | None = None
        self._response: httpx.Response | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="chairside-cloud-events", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 5.0) -> None:
        """Set the stop flag and cut the open stream, so a thread blocked reading wakes now."""
        self.stop_event.set()
        with self._lock:
            response = self._response
        if response is not None:
            _cut(response)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        """Listen until stopped or revoked (blocking; `start()` runs it on a thread)."""
        while not self.stop_event.is_set() and not self._http.is_closed:
            try:
                if self._listen_once():
                    return  # revoked
            except (_StreamEnded, httpx.HTTPError, httpx.StreamError) as exc:
                if self.stop_event.is_set():
                    return
                log.info("cloud event stream interrupted (%s); reconnecting", type(exc).__name__)
            self._set_online(False)
            self.stop_event.wait(self._backoff.next())

    def _listen_once(self) -> bool:
        """One connection; True once the workstation was revoked (the listener ends)."""
        # its own connection, closed afterwards: stop() may cut it without touching sync's pool
        with self._http.stream("GET", EVENTS_PATH, headers=STREAM_HEADERS, timeout=STREAM_TIMEOUT) as response:
            with self._lock:
                self._response = response
            try:
                if self.stop_event.is_set():  # stop() came while connecting
                    return False
                if response.status_code == 401:
                    self._revoked()
                    return True
                if response.status_code != 200:
                    raise _StreamEnded(f"HTTP {response.status_code}")
                for event in parse_lines(response.iter_lines()):
                    if self.stop_event.is_set():
                        return False
                    if event.event == "revoked":
                        self._revoked()
                        return True
                    if event.event == "changed":
                        cursor = _cursor(event.data)
                        if cursor is not None:
                            self._set_online(True)
                            self._backoff.reset()  # a healthy stream: the next outage starts over at 0.5 s
                            self._on_change(cursor)
            finally:
                with self._lock:
                    self._response = None
        raise _StreamEnded("the server closed the stream")

    def _revoked(self) -> None:
        self._set_online(False)
        if self._on_revoked is not None:
            self._on_revoked()

    def _set_online(self, online: bool) -> None:
        if online != self._online:
            self._online = online
            if self._on_state is not None:
                self._on_state(online)


def _cursor(data: str) -> int | None:
    try:
        cursor = json.loads(data).get("cursor")
    except (ValueError, AttributeError):
        return None
    return cursor if isinstance(cursor, int) and not isinstance(cursor, bool) else None


def _cut(response: httpx.Response) -> None:
    # Closing a socket does not wake a thread blocked reading it on Linux; shutting it down
    # does (the read sees end-of-stream), and the reading thread then closes the response.
    # The stream asks for `Connection: close`, so this socket is never a pooled one.
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket):
        response.close()  # no socket to reach (a test transport): closing is all there is
        return
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
