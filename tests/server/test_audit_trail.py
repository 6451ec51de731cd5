"""Audit events in the cloud: checked against their hashes and links, append-only, per clinic."""

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sync.audit_chain import GENESIS, event_hash
from sync.protocol import AuditEventIn, AuditPush
from sync.server import cli
from sync.server.models import AuditEvent
from tests.server.conftest import Cloud, Workstation


def chain(length: int, workstation: str = "ws-desk", start: tuple[int, str] = (0, GENESIS)) -> list[AuditEventIn]:
    """`length` events continuing the chain whose last link is `start` (seq, hash)."""
    events = []
    seq, prev = start
    for _ in range(length):
        seq += 1
        fields = {
            "id": str(uuid.uuid4()),
            "occurred_at": f"2026-11-20T09:{seq % 60:02d}:00.000000Z",
            "workstation_id": workstation,
            "user_id": "u-1",
            "username": "dr.patel",
            "action": "chart.opened",
            "entity_type": "patient",
            "entity_id": "p-1",
            "patient_id": "p-1",
            "details": "{}",
        }
        digest = event_hash(prev, seq, fields)
        events.append(AuditEventIn(seq=seq, prev_hash=prev, hash=digest, fields=fields))
        prev = digest
    return events


def send(ws: Workstation, events: list[AuditEventIn]):  # type: ignore[no-untyped-def]
    body = AuditPush(events=events).model_dump(mode="json")
    return ws.client.post("/v1/audit/events", json=body, headers=ws.headers)


@pytest.fixture
def verify_trail(database_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`chairside-cloud audit verify --clinic ID` against the test database; its exit code."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    return lambda clinic_id: cli.main(["audit", "verify", "--clinic", clinic_id])


def held(db: Session, clinic_id: str) -> list[tuple[str, int, str]]:
    db.expire_all()
    query = select(AuditEvent.workstation_id, AuditEvent.seq, AuditEvent.hash).where(AuditEvent.clinic_id == clinic_id)
    return sorted((ws, seq, digest) for ws, seq, digest in db.execute(query))


def test_a_workstations_events_are_kept_and_a_resend_stores_nothing_twice(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)
    events = chain(5)

    first = desk.push_audit(AuditPush(events=events[:3]))
    second = desk.push_audit(AuditPush(events=events))  # the reply to the first was lost: all sent again

    assert (first.stored, first.known) == (3, 0)
    assert (second.stored, second.known) == (2, 3)
    assert held(db, clinic_id) == [("ws-desk", ev.seq, ev.hash) for ev in events]


def test_an_altered_event_is_refused_and_nothing_of_its_request_is_stored(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)
    events = chain(3)
    events[2] = events[2].model_copy(update={"fields": {**events[2].fields, "username": "someone.else"}})

    refused = send(desk, events)

    assert refused.status_code == 422
    assert "audit event 3 of workstation ws-desk" in refused.json()["detail"]
    assert "does not match its hash" in refused.json()["detail"]
    assert held(db, clinic_id) == []


def test_an_event_changed_after_it_was_sent_is_refused(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)
    events = chain(2)
    desk.push_audit(AuditPush(events=events))
    # event 2 rewritten on the workstation after it was sent, its hash recomputed to match
    fields = {**events[1].fields, "username": "someone.else"}
    rewritten = [events[1].model_copy(update={"fields": fields, "hash": event_hash(events[0].hash, 2, fields)})]

    refused = send(desk, rewritten)

    assert refused.status_code == 422 and "differs from the copy the cloud received" in refused.json()["detail"]
    assert held(db, clinic_id) == [("ws-desk", 1, events[0].hash), ("ws-desk", 2, events[1].hash)]


def test_an_event_whose_predecessor_the_cloud_lacks_asks_for_the_chain_from_its_start(
    cloud: Cloud, db: Session
) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)
    events = chain(4)

    gap = send(desk, events[2:])

    assert gap.status_code == 409 and "from its start" in gap.json()["detail"]
    assert held(db, clinic_id) == []
    assert desk.push_audit(AuditPush(events=events)).stored == 4


def test_a_workstation_restored_from_a_backup_continues_its_chain_as_a_fork(
    cloud: Cloud, db: Session, verify_trail
) -> None:  # type: ignore[no-untyped-def]
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)
    original = chain(4)
    desk.push_audit(AuditPush(events=original))
    # restored from a backup taken after event 2: the same events 1-2, then its own 3-4
    restored = original[:2] + chain(2, start=(2, original[1].hash))
    answer = cloud.enrol(clinic_id, "Front desk (restored)").push_audit(AuditPush(events=restored))

    assert (answer.stored, answer.known) == (2, 2)
    assert len(held(db, clinic_id)) == 6
    assert verify_trail(clinic_id) == 0


def test_the_cloud_refuses_to_change_or_delete_a_stored_event(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    cloud.enrol(clinic_id).push_audit(AuditPush(events=chain(2)))

    for statement in (
        "UPDATE audit_event SET fields = '{}' WHERE clinic_id = :c",
        "DELETE FROM audit_event WHERE clinic_id = :c",
        "TRUNCATE audit_event CASCADE",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement), {"c": clinic_id})
        db.rollback()
    assert len(held(db, clinic_id)) == 2


def test_verify_names_an_event_altered_in_the_cloud_database(  # type: ignore[no-untyped-def]
    cloud: Cloud, db: Session, capsys: pytest.CaptureFixture[str], verify_trail
) -> None:
    clinic_id = cloud.clinic()
    events = chain(3)
    cloud.enrol(clinic_id).push_audit(AuditPush(events=events))
    assert verify_trail(clinic_id) == 0
    assert "Audit trail intact: 3 audit events from 1 workstation(s)." in capsys.readouterr().out
    # someone with the database owner's rights turns the guard off and edits event 2
    db.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
    db.execute(
        text(
            "UPDATE audit_event SET fields = jsonb_set(fields, '{username}', '\"nobody\"') "
            "WHERE clinic_id = :c AND seq = 2"
        ),
        {"c": clinic_id},
    )
    db.execute(text("DELETE FROM audit_event WHERE clinic_id = :c AND seq = 1"), {"c": clinic_id})
    db.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
    db.commit()

    assert verify_trail(clinic_id) == 1

    err = capsys.readouterr().err
    assert f"event 2 of workstation ws-desk (id {events[1].fields['id']}) was altered" in err
    assert "event 2 of workstation ws-desk" in err and "follows no stored event" in err
    assert "the audit trail is broken (2 audit events from 1 workstation(s))" in err


def test_one_clinics_token_reaches_only_its_own_clinics_trail(cloud: Cloud, db: Session) -> None:
    clinic_a, clinic_b = cloud.clinic("A"), cloud.clinic("B")
    events = chain(2)
    cloud.enrol(clinic_a).push_audit(AuditPush(events=events))
    intruder = cloud.enrol(clinic_b)

    # B's token cannot continue A's chain: the predecessor is not B's
    gap = send(intruder, chain(1, start=(2, events[1].hash)))
    # B sending A's very events stores B's own copies; A's are untouched
    copied = intruder.push_audit(AuditPush(events=events))

    assert gap.status_code == 409
    assert (copied.stored, copied.known) == (2, 0)
    assert held(db, clinic_a) == held(db, clinic_b) == [("ws-desk", 1, events[0].hash), ("ws-desk", 2, events[1].hash)]


def test_audit_events_need_a_workstation_token(cloud: Cloud) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)
    body = AuditPush(events=chain(1)).model_dump(mode="json")

    answer = desk.client.post("/v1/audit/events", json=body, headers={"X-Chairside-Schema": desk.schema})

    assert answer.status_code == 401
