"""The workstation's side of live change events: the SSE parser, the backoff, the listener loop.

The listener runs over httpx's MockTransport here; tests/server/test_events.py runs it
against the real service.
"""

import random
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from sync.client import CloudClient
from sync.events import EVENTS_PATH, Backoff, ChangeListener, ServerEvent, parse_lines
from sync.protocol import SCHEMA_HEADER, SCHEMA_VERSION


def events_of(text: str) -> list[ServerEvent]:
    return list(parse_lines(text.split("\n")))


# --- the parser -------------------------------------------------------------------------


def test_an_event_is_dispatched_by_the_blank_line_after_it() -> None:
    assert events_of('event: changed\ndata: {"cursor": 7}\n\n') == [ServerEvent("changed", '{"cursor": 7}')]


def test_data_lines_join_with_newlines() -> None:
    assert events_of("data: one\ndata: two\ndata:\ndata: three\n\n") == [ServerEvent("message", "one\ntwo\n\nthree")]


def test_comments_are_ignored_and_a_keepalive_alone_is_no_event() -> None:
    assert events_of(": keepalive\n\n: hello\nevent: changed\n: in between\ndata: 1\n\n") == [
        ServerEvent("changed", "1")
    ]


def test_an_event_without_data_is_dropped_and_its_type_forgotten() -> None:
    assert events_of("event: revoked\n\ndata: x\n\n") == [ServerEvent("message", "x")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert events_of("data:no-space\n\ndata:  two-spaces\n\n") == [
        ServerEvent("message", "no-space"),
        ServerEvent("message", " two-spaces"),
    ]


def test_a_field_name_alone_has_an_empty_value() -> None:
    assert events_of("data\n\n") == [ServerEvent("message", "")]


def test_unknown_fields_and_retry_are_ignored() -> None:
    assert events_of("retry: 10\nfoo: bar\ndata: x\n\n") == [ServerEvent("message", "x")]


def test_the_last_event_id_carries_over_to_later_events() -> None:
    assert events_of("id: 4\ndata: a\n\ndata: b\n\nid\ndata: c\n\n") == [
        ServerEvent("message", "a", "4"),
        ServerEvent("message", "b", "4"),
        ServerEvent("message", "c", ""),
    ]


def test_an_id_with_a_nul_is_ignored() -> None:
    assert events_of("id: 1\n\nid: 2\0\ndata: a\n\n") == [ServerEvent("message", "a", "1")]


def test_a_byte_order_mark_at_the_start_is_skipped() -> None:
    assert events_of("\ufeffevent: changed\ndata: 1\n\n") == [ServerEvent("changed", "1")]


def test_an_event_cut_off_by_the_end_of_the_stream_is_dropped() -> None:
    assert events_of("data: whole\n\ndata: cut off") == [ServerEvent("message", "whole")]


def test_line_endings_split_across_chunks_parse_the_same() -> None:
    # httpx splits the lines; CRLF, CR and LF must all work, even split between chunks
    chunks = [b"event: chan", b"ged\r", b'\ndata: {"cursor"', b": 3}\r\n\r", b"\n: keepalive\r\rdata: x\n\n"]
    response = httpx.Response(200, content=iter(chunks))

    assert list(parse_lines(response.iter_lines())) == [
        ServerEvent("changed", '{"cursor": 3}'),
        ServerEvent("message", "x"),
    ]


# --- the backoff ------------------------------------------------------------------------


def test_the_backoff_doubles_from_half_a_second_to_thirty_with_jitter() -> None:
    backoff = Backoff(rng=random.Random(1))
    delays = [backoff.next() for _ in range(10)]

    ceilings = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert all(ceiling / 2 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, so workstations spread out
    backoff.reset()
    assert backoff.next() <= 0.5


# --- the listener -------------------------------------------------------------------------


class Script:
    """A MockTransport handler answering each connection with the next scripted reply."""

    def __init__(self, *replies: Callable[[httpx.Request], httpx.Response]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.replies:
            raise httpx.ConnectError("no more replies", request=request)
        return self.replies.pop(0)(request)


def stream(*events: str) -> Callable[[httpx.Request], httpx.Response]:
    body = "".join(events).encode()
    return lambda _request: httpx.Response(200, content=iter([body]), headers={"content-type": "text/event-stream"})


def status(code: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: httpx.Response(code, json={"detail": "no"})


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def changed(cursor: int) -> str:
    return f'event: changed\ndata: {{"cursor": {cursor}}}\n\n'


REVOKED = "event: revoked\ndata: {}\n\n"


class Heard:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def listener(self, script: Script, **kwargs: object) -> ChangeListener:
        cloud = CloudClient("https://cloud.example", "chs_token", transport=httpx.MockTransport(script))
        return ChangeListener(
            cloud,
            lambda cursor: self.calls.append(("changed", cursor)),
            on_revoked=lambda: self.calls.append(("revoked", None)),
            on_state=lambda online: self.calls.append(("online", online)),
            backoff=kwargs.pop("backoff", Backoff(first=0.001, cap=0.002)),  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture
def heard() -> Iterator[Heard]:
    yield Heard()


def test_changes_are_passed_on_and_a_revoked_event_ends_the_listener(heard: Heard) -> None:
    script = Script(stream(changed(3), ": keepalive\n\n", changed(5)), stream(changed(5), REVOKED, changed(9)))

    heard.listener(script).run()

    assert heard.calls == [
        ("online", True),
        ("changed", 3),
        ("changed", 5),
        ("online", False),  # the first stream ended
        ("online", True),
        ("changed", 5),  # the connect event: the workstation sees it missed nothing
        ("online", False),
        ("revoked", None),
    ]


def test_the_stream_is_asked_for_with_the_workstations_token_and_schema(heard: Heard) -> None:
    script = Script(status(401))

    heard.listener(script).run()

    (request,) = script.requests
    assert request.url == httpx.URL("https://cloud.example" + EVENTS_PATH)
    assert request.headers["Authorization"] == "Bearer chs_token"
    assert request.headers[SCHEMA_HEADER] == SCHEMA_VERSION
    assert request.headers["Accept"] == "text/event-stream"
    # a connection of its own: stopping it never touches a connection sync reuses
    assert request.headers["Connection"] == "close"
    assert request.extensions["timeout"]["read"] == 60.0


def test_a_refused_token_means_revoked_without_retrying(heard: Heard) -> None:
    script = Script(status(401), stream(changed(1)))

    heard.listener(script).run()

    assert heard.calls == [("online", False), ("revoked", None)]
    assert len(script.requests) == 1


def test_outages_and_server_errors_are_retried_with_backoff(heard: Heard) -> None:
    script = Script(refused, status(503), status(426), stream("data: not json\n\n", changed(2)), stream(REVOKED))
    delays: list[float] = []

    class Counting(Backoff):
        def next(self) -> float:
            delays.append(super().next())
            return delays[-1]

    heard.listener(script, backoff=Counting(first=0.001, cap=0.004)).run()

    assert heard.calls == [
        ("online", False),
        ("online", True),
        ("changed", 2),
        ("online", False),
        ("revoked", None),
    ]
    assert len(delays) == 4  # three failures and the end of the good stream
    assert delays[2] > delays[0] / 2 and max(delays) <= 0.004


def test_stop_ends_a_listener_waiting_out_a_long_backoff(heard: Heard) -> None:
    listener = heard.listener(Script(), backoff=Backoff(first=30, cap=30))
    thread = listener.start()
    time.sleep(0.1)

    started = time.monotonic()
    listener.stop(timeout=2)

    assert not thread.is_alive()
    assert time.monotonic() - started < 1


def test_a_listener_whose_stop_flag_is_set_does_not_connect(heard: Heard) -> None:
    script = Script(stream(changed(1)))
    stop = threading.Event()
    stop.set()

    heard.listener(script, stop=stop).run()

    assert script.requests == [] and heard.calls == []


def test_a_callback_that_fails_ends_the_listener_loudly(heard: Heard) -> None:
    script = Script(stream(changed(1)))
    cloud = CloudClient("https://cloud.example", "chs_token", transport=httpx.MockTransport(script))

    def broken(_cursor: int) -> None:
        raise RuntimeError("the UI went away")

    with pytest.raises(RuntimeError, match="the UI went away"):
        ChangeListener(cloud, broken).run()
