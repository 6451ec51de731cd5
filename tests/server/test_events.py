"""Live change events (`GET /v1/sync/events`) from a real `chairside-cloud serve` process.

SSE through TestClient would buffer or block, so the service runs as a process on a free
loopback port and the workstations listen with the real `ChangeListener`. The token
re-check runs every 0.5 s here (EVENTS_RECHECK_SECONDS) so revocation shows quickly; the
15 s keepalive is left as shipped, so a listener blocked reading really is blocked.
"""

import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from sync.client import CloudClient
from sync.events import Backoff, ChangeListener
from sync.protocol import SCHEMA_HEADER, SCHEMA_VERSION, PushRequest
from sync.server.services import clinics
from tests.server.workstations import free_port, wait_until_serving

CLI = str(Path(sys.executable).with_name("chairside-cloud"))
PATIENT_NAME = "Philippa Quennell-Ashdown"
WAIT = 3.0  # generous: the service polls every 0.25 s


class Served:
    """`chairside-cloud serve` on one loopback port; stoppable and startable again on it."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "EVENTS_RECHECK_SECONDS": "0.5",
            "ENROL_RATE_PER_MINUTE": "1000",  # every test enrols its own workstations
            "SHUTDOWN_GRACE_SECONDS": "1",
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("a") as log_file:
            self.process = subprocess.Popen(
                [CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log_file,
                stderr=log_file,
            )
        wait_until_serving(self.process, self.url, self.log_path)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(database_url, tmp_path_factory.mktemp("cloud") / "serve.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Recorder:
    """What one listener was told, in order, with when."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, object, float]] = queue.Queue()

    def changed(self, cursor: int) -> None:
        self.events.put(("changed", cursor, time.monotonic()))

    def revoked(self) -> None:
        self.events.put(("revoked", None, time.monotonic()))

    def state(self, online: bool) -> None:
        self.events.put(("online", online, time.monotonic()))

    def next(self, kind: str, timeout: float = WAIT) -> tuple[object, float]:
        """The next call of this kind (others are skipped); fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                got, value, at = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {kind!r} within {timeout} s")
            if got == kind:
                return value, at

    def until_cursor(self, cursor: int, timeout: float = WAIT) -> float:
        """When a `changed` with this cursor came (earlier ones are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            value, at = self.next("changed", max(0.0, deadline - time.monotonic()))
            if value == cursor:
                return at

    def changes_so_far(self) -> list[object]:
        seen = []
        while not self.events.empty():
            got, value, _at = self.events.get_nowait()
            if got == "changed":
                seen.append(value)
        return seen


class Arranger:
    def __init__(self, served: Served, db: Session) -> None:
        self.served = served
        self.db = db
        self.opened: list[CloudClient] = []
        self.listeners: list[ChangeListener] = []

    def clinic(self, name: str = "Harbour Dental") -> str:
        return clinics.create_clinic(self.db, name).id

    def workstation(self, clinic_id: str, name: str = "Front desk") -> tuple[CloudClient, str]:
        code = clinics.create_enrol_code(self.db, clinic_id, hours=1)
        enrolled = httpx.post(f"{self.served.url}/v1/enrol", json={"code": code, "device_name": name}, timeout=10)
        assert enrolled.status_code == 200, enrolled.text
        client = CloudClient(self.served.url, enrolled.json()["token"])
        self.opened.append(client)
        return client, enrolled.json()["device_id"]

    def listen(self, client: CloudClient, backoff: Backoff | None = None) -> tuple[ChangeListener, Recorder]:
        recorder = Recorder()
        listener = ChangeListener(
            client, recorder.changed, on_revoked=recorder.revoked, on_state=recorder.state, backoff=backoff
        )
        listener.start()
        self.listeners.append(listener)
        return listener, recorder

    def close(self) -> None:
        for listener in self.listeners:
            listener.stop()
        for client in self.opened:
            client.close()


@pytest.fixture
def arrange(served: Served, db: Session) -> Iterator[Arranger]:
    arranger = Arranger(served, db)
    yield arranger
    arranger.close()


def _push(client: CloudClient, last_pulled_cursor: int = 0) -> int:
    row = {"id": str(uuid.uuid4()), "version": 1, "full_name": PATIENT_NAME}
    request = PushRequest.model_validate(
        {
            "push_id": uuid.uuid4().hex,
            "last_pulled_cursor": last_pulled_cursor,
            "changes": {"patient": {"created": [row]}},
        }
    )
    pushed = client.push(request)
    assert pushed.applied == 1
    return pushed.cursor


def test_a_push_on_one_workstation_is_announced_to_another_within_a_second(arrange: Arranger) -> None:
    clinic_id = arrange.clinic()
    desk, _ = arrange.workstation(clinic_id, "Front desk")
    surgery, _ = arrange.workstation(clinic_id, "Surgery 1")
    _listener, heard = arrange.listen(surgery)
    # at connect: the clinic's current cursor, so a workstation knows at once whether it is behind
    assert heard.next("changed")[0] == 0

    pushed_at = time.monotonic()
    cursor = _push(desk)
    announced, at = heard.next("changed")

    assert announced == cursor > 0
    # not asserted tightly (shared CI machines): the service polls every 0.25 s
    assert at - pushed_at < WAIT
    _push(desk, cursor)
    assert heard.next("changed")[0] == cursor + 1


def test_another_clinics_pushes_are_never_announced(arrange: Arranger) -> None:
    busy = arrange.clinic("Busy Dental")
    quiet = arrange.clinic("Quiet Dental")
    busy_desk, _ = arrange.workstation(busy)
    quiet_desk, _ = arrange.workstation(quiet)
    busy_cursor = _push(busy_desk)
    _l1, quiet_heard = arrange.listen(quiet_desk)
    _l2, busy_heard = arrange.listen(busy_desk)
    assert quiet_heard.next("changed")[0] == 0  # its own sequence, not the busy clinic's
    assert busy_heard.next("changed")[0] == busy_cursor

    for _ in range(3):
        busy_cursor = _push(busy_desk, busy_cursor)
    busy_heard.until_cursor(busy_cursor)
    time.sleep(1.0)  # four poll intervals more for anything to leak

    assert quiet_heard.changes_so_far() == []


def test_a_revoked_workstations_stream_ends_and_a_new_one_is_refused(arrange: Arranger) -> None:
    clinic_id = arrange.clinic()
    desk, _ = arrange.workstation(clinic_id, "Front desk")
    surgery, surgery_id = arrange.workstation(clinic_id, "Surgery 1")
    listener, heard = arrange.listen(surgery)
    heard.next("changed")

    revoked = desk.request("POST", f"/v1/devices/{surgery_id}/revoke")
    assert revoked.status_code == 200
    heard.next("revoked")  # the open stream, at its next token check (0.5 s here)
    time.sleep(0.5)
    assert not listener.running  # revoked: no reconnecting

    refused = surgery.http.get("/v1/sync/events")
    assert refused.status_code == 401
    _again, heard_again = arrange.listen(surgery)
    heard_again.next("revoked")


def test_the_stream_needs_a_token_and_the_schema_header(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=5) as http:
        no_token = http.get("/v1/sync/events", headers={SCHEMA_HEADER: SCHEMA_VERSION})
        forged = http.get(
            "/v1/sync/events", headers={"Authorization": "Bearer chs_forged", SCHEMA_HEADER: SCHEMA_VERSION}
        )

    assert (no_token.status_code, forged.status_code) == (401, 401)


def test_an_old_workstation_is_told_to_upgrade(arrange: Arranger) -> None:
    desk, _ = arrange.workstation(arrange.clinic())

    old = desk.http.get("/v1/sync/events", headers={SCHEMA_HEADER: "0001"})

    assert old.status_code == 426


def test_the_raw_stream_is_text_event_stream_with_the_cursor(arrange: Arranger) -> None:
    desk, _ = arrange.workstation(arrange.clinic())
    _push(desk)

    with desk.http.stream("GET", "/v1/sync/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        lines = response.iter_lines()
        assert [next(lines), next(lines), next(lines)] == ["event: changed", 'data: {"cursor": 1}', ""]


def _streams_ended(served: Served) -> int:
    # the access log writes a request's line when it ends; for a stream, when the stream ends
    return served.log_path.read_text().count('"path": "/v1/sync/events", "status": 200')


def test_stop_ends_a_listener_blocked_reading_and_the_service_notices(arrange: Arranger, served: Served) -> None:
    desk, _ = arrange.workstation(arrange.clinic())
    listener, heard = arrange.listen(desk)
    heard.next("changed")
    time.sleep(0.5)  # now blocked in a read: nothing comes for 15 s but a keepalive
    ended_before = _streams_ended(served)

    started = time.monotonic()
    listener.stop(timeout=5)

    assert not listener.running
    assert time.monotonic() - started < 2
    deadline = time.monotonic() + WAIT
    while _streams_ended(served) == ended_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _streams_ended(served) == ended_before + 1  # the service stopped polling for it


def test_open_streams_hold_no_database_transaction(arrange: Arranger, database_url: str) -> None:
    clinic_id = arrange.clinic()
    for name in ("Front desk", "Surgery 1", "Surgery 2"):
        client, _ = arrange.workstation(clinic_id, name)
        client.pull(0)  # seen just now: the stream's token check then writes nothing and commits nothing
        arrange.listen(client)[1].next("changed")
    time.sleep(1.5)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            # each poll is a transaction of a millisecond or so; one held open by a stream would be old
            held = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND xact_start < now() - interval '1 second' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        engine.dispose()

    assert held == 0


def test_the_listener_reconnects_after_the_service_restarts(database_url: str, db: Session, tmp_path: Path) -> None:
    server = Served(database_url, tmp_path / "serve.log")
    server.start()
    arrange = Arranger(server, db)
    try:
        desk, _ = arrange.workstation(arrange.clinic())
        _listener, heard = arrange.listen(desk, backoff=Backoff(first=0.1, cap=1.0))
        assert heard.next("online")[0] is True
        assert heard.next("changed")[0] == 0

        stopping = time.monotonic()
        server.stop()
        # the open stream does not hold the shutdown up: it is cut after the grace period
        assert time.monotonic() - stopping < 6
        assert heard.next("online")[0] is False
        server.start()
        cursor = _push(desk)

        assert heard.next("online", timeout=10)[0] is True
        # announced either as a change or, if the push beat the reconnect, by the connect event
        heard.until_cursor(cursor, timeout=10)
    finally:
        arrange.close()
        server.stop()


def test_nothing_of_the_rows_reaches_the_service_log(arrange: Arranger, served: Served) -> None:
    desk, _ = arrange.workstation(arrange.clinic())
    _l, heard = arrange.listen(desk)
    heard.next("changed")
    _push(desk)
    heard.next("changed")
    time.sleep(0.2)

    # every push of this module carried the name
    assert PATIENT_NAME not in served.log_path.read_text()


# keep threads honest: a test that leaks a listener thread shows up here
def test_no_listener_threads_are_left_behind() -> None:
    time.sleep(0.2)
    assert [t.name for t in threading.enumerate() if t.name == "chairside-cloud-events"] == []
