"""Double bookings: a booking overlapping another of the same provider, chair or patient is refused.

On PostgreSQL the exclusion constraint on appointment_slot backs the service's own check; on
SQLite (the one-machine default) the check alone refuses.
"""

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain.scheduling import ACTIVE
from sync.protocol import PushRequest, PushResponse, TableChanges
from sync.server import migrate
from sync.server.db import make_engine
from sync.server.models import AppointmentSlot, SyncRow
from sync.server.services import clinics
from sync.server.services.bookings import BLOCKING_STATUSES, Bookings, Clash, slots_of
from sync.server.services.sync import ClinicSync
from tests.server.conftest import Cloud, Workstation

DAY = "2026-03-02"


def at(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00.000000Z"


def booking(row_id: str, start: str | None, end: str | None, version: int = 1, **fields: Any) -> dict[str, Any]:
    """An appointment row as the workstation sends it; times are HH:MM on DAY, UTC."""
    return {
        "id": row_id,
        "version": version,
        "patient_id": "pat-1",
        "provider_id": "dr-a",
        "operatory_id": "op-1",
        "location_id": "loc-1",
        "starts_at": start and at(start),
        "ends_at": end and at(end),
        "time_zone": "Europe/London",
        "status": "scheduled",
        "on_pinboard": False,
        "deleted_at": None,
        **fields,
    }


def request(
    created: Sequence[dict[str, Any]] = (), updated: Sequence[dict[str, Any]] = (), deleted: Sequence[str] = ()
) -> PushRequest:
    changes = TableChanges(created=list(created), updated=list(updated), deleted=list(deleted))
    return PushRequest(push_id=uuid.uuid4().hex, last_pulled_cursor=0, changes={"appointment": changes})


def push(
    ws: Workstation,
    created: Sequence[dict[str, Any]] = (),
    updated: Sequence[dict[str, Any]] = (),
    deleted: Sequence[str] = (),
) -> PushResponse:
    return ws.push(request(created, updated, deleted))


def stored(db: Session, clinic_id: str) -> dict[str, dict[str, Any]]:
    """The clinic's appointment rows on the server, live ones only, by id."""
    db.expire_all()
    rows = db.scalars(select(SyncRow).where(SyncRow.clinic_id == clinic_id, SyncRow.table_name == "appointment"))
    return {r.row_id: r.data for r in rows if not r.deleted}


def slots(db: Session, clinic_id: str) -> set[tuple[str, str, str]]:
    db.expire_all()
    found = db.execute(
        select(AppointmentSlot.row_id, AppointmentSlot.resource, AppointmentSlot.starts_at).where(
            AppointmentSlot.clinic_id == clinic_id
        )
    )
    return {(row_id, resource, f"{starts_at:%H:%M}") for row_id, resource, starts_at in found}


def two_desks(cloud: Cloud) -> tuple[Workstation, Workstation]:
    clinic_id = cloud.clinic()
    return cloud.enrol(clinic_id, "Front desk"), cloud.enrol(clinic_id, "Surgery")


def test_two_workstations_booking_one_provider_at_overlapping_times_get_one_overlap_conflict(
    cloud: Cloud, db: Session
) -> None:
    desk, surgery = two_desks(cloud)
    first = push(desk, [booking("a1", "09:00", "09:30", operatory_id="op-1", patient_id="pat-1")])

    second = push(surgery, [booking("a2", "09:15", "09:45", operatory_id="op-2", patient_id="pat-2")])

    assert first.applied == 1 and first.conflicts == []
    assert second.applied == 0
    [conflict] = second.conflicts
    assert (conflict.table, conflict.row_id, conflict.reason) == ("appointment", "a2", "overlap")
    assert conflict.message == (
        "Another workstation already booked this provider's time 09:00–09:30 UTC on 2 Mar 2026; "
        "this booking was not saved on the server."
    )
    assert conflict.server_row is not None and conflict.server_row["id"] == "a1"
    assert conflict.server_row["starts_at"] == at("09:00")
    assert list(stored(db, desk.clinic_id)) == ["a1"]
    # the surgery learns of the booking holding the time; its own refused one stays unsaved
    assert [r["id"] for r in surgery.pull(0).changes["appointment"].created] == ["a1"]


@pytest.mark.parametrize(
    ("clash", "whose"),
    [
        ({"provider_id": "dr-b", "operatory_id": "op-1", "patient_id": "pat-2"}, "this chair's"),
        ({"provider_id": "dr-b", "operatory_id": "op-2", "patient_id": "pat-1"}, "this patient's"),
        ({"provider_id": "dr-b", "operatory_id": None, "patient_id": "pat-1"}, "this patient's"),
    ],
)
def test_the_same_chair_or_the_same_patient_at_an_overlapping_time_is_a_conflict(
    cloud: Cloud, db: Session, clash: dict[str, Any], whose: str
) -> None:
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30")])

    result = push(surgery, [booking("a2", "09:29", "10:00", **clash)])

    [conflict] = result.conflicts
    assert conflict.reason == "overlap" and whose in conflict.message and "09:00–09:30" in conflict.message
    assert list(stored(db, desk.clinic_id)) == ["a1"]


def test_back_to_back_bookings_both_stand(cloud: Cloud, db: Session) -> None:
    desk, surgery = two_desks(cloud)

    before = push(desk, [booking("a1", "09:00", "09:30")])
    after = push(surgery, [booking("a2", "09:30", "10:00"), booking("a0", "08:30", "09:00")])

    assert before.conflicts == after.conflicts == []
    assert sorted(stored(db, desk.clinic_id)) == ["a0", "a1", "a2"]


def test_a_booking_pushed_with_one_that_clashes_is_applied(cloud: Cloud, db: Session) -> None:
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30")])

    result = push(
        surgery,
        [
            booking("clash", "09:10", "09:20", operatory_id="op-2", patient_id="pat-2"),
            booking("fine", "11:00", "11:30"),
        ],
    )

    assert result.applied == 1
    assert [c.row_id for c in result.conflicts] == ["clash"]
    assert sorted(stored(db, desk.clinic_id)) == ["a1", "fine"]


def test_two_clashing_bookings_in_one_push_keep_the_first(cloud: Cloud, db: Session) -> None:
    desk, _ = two_desks(cloud)

    result = push(desk, [booking("a1", "09:00", "09:30"), booking("a2", "09:00", "09:30", patient_id="pat-2")])

    assert [(c.row_id, c.server_row and c.server_row["id"]) for c in result.conflicts] == [("a2", "a1")]
    assert list(stored(db, desk.clinic_id)) == ["a1"]


@pytest.mark.parametrize(
    "freed",
    [
        {"status": "cancelled"},
        {"status": "no_show"},
        {"on_pinboard": True, "starts_at": None, "ends_at": None},
        {"on_pinboard": True},
        {"deleted_at": at("08:00")},
    ],
)
def test_a_cancelled_pinboarded_or_deleted_booking_frees_its_time(
    cloud: Cloud, db: Session, freed: dict[str, Any]
) -> None:
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30")])

    change = push(desk, updated=[booking("a1", "09:00", "09:30", version=2) | freed])
    rebooked = push(surgery, [booking("a2", "09:00", "09:30")])

    assert change.conflicts == [] and rebooked.conflicts == []
    assert {row_id for row_id, _, _ in slots(db, desk.clinic_id)} == {"a2"}


def test_a_booking_that_holds_no_time_is_stored_even_over_a_taken_time(cloud: Cloud, db: Session) -> None:
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30")])

    result = push(surgery, [booking("a2", "09:00", "09:30", status="cancelled")])

    assert result.applied == 1 and result.conflicts == []
    assert sorted(stored(db, desk.clinic_id)) == ["a1", "a2"]


def test_moving_a_booking_to_a_free_time_frees_the_old_one(cloud: Cloud, db: Session) -> None:
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30")])

    moved = push(desk, updated=[booking("a1", "09:15", "09:45", version=2)])  # overlaps only its own old time
    moved_again = push(desk, updated=[booking("a1", "14:00", "14:30", version=3)])
    rebooked = push(surgery, [booking("a2", "09:00", "09:30")])

    assert moved.conflicts == moved_again.conflicts == rebooked.conflicts == []
    assert slots(db, desk.clinic_id) == {
        ("a1", "provider", "14:00"),
        ("a1", "operatory", "14:00"),
        ("a1", "patient", "14:00"),
        ("a2", "provider", "09:00"),
        ("a2", "operatory", "09:00"),
        ("a2", "patient", "09:00"),
    }


def test_moving_a_booking_onto_a_taken_time_keeps_the_servers_version(cloud: Cloud, db: Session) -> None:
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30"), booking("a2", "10:00", "10:30")])

    result = push(surgery, updated=[booking("a2", "09:20", "09:50", version=2)])

    [conflict] = result.conflicts
    assert (conflict.row_id, conflict.reason) == ("a2", "overlap")
    assert stored(db, desk.clinic_id)["a2"]["starts_at"] == at("10:00")
    assert ("a2", "provider", "10:00") in slots(db, desk.clinic_id)


def test_a_tombstone_frees_the_time(cloud: Cloud, db: Session) -> None:
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30")])

    push(desk, deleted=["a1"])
    rebooked = push(surgery, [booking("a2", "09:00", "09:30")])

    assert rebooked.conflicts == []
    assert {row_id for row_id, _, _ in slots(db, desk.clinic_id)} == {"a2"}


def test_an_older_version_is_a_version_conflict_not_an_overlap(cloud: Cloud, db: Session) -> None:
    # the overlap check runs only on a row that would be stored
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30"), booking("a2", "10:00", "10:30", version=3)])

    result = push(surgery, updated=[booking("a2", "09:00", "09:30", version=2)])

    assert [(c.row_id, c.reason) for c in result.conflicts] == [("a2", "version_not_newer")]


def test_a_booking_of_another_clinic_never_clashes(cloud: Cloud, db: Session) -> None:
    a_desk = cloud.enrol(cloud.clinic("Clinic A"))
    b_desk = cloud.enrol(cloud.clinic("Clinic B"))
    push(a_desk, [booking("a1", "09:00", "09:30")])

    result = push(b_desk, [booking("b1", "09:00", "09:30")])

    assert result.applied == 1 and result.conflicts == []
    assert list(stored(db, b_desk.clinic_id)) == ["b1"]


def test_postgresql_itself_refuses_an_overlapping_slot(cloud: Cloud, db: Session) -> None:
    desk, _ = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30")])

    with pytest.raises(IntegrityError, match="ex_appointment_slot_overlap"):
        db.execute(
            text(
                "INSERT INTO appointment_slot (clinic_id, row_id, resource, resource_id, starts_at, ends_at) "
                "VALUES (:clinic, 'raw', 'provider', 'dr-a', :starts_at, :ends_at)"
            ),
            {"clinic": desk.clinic_id, "starts_at": at("09:29"), "ends_at": at("10:00")},
        )
    db.rollback()


def test_an_overlap_the_query_missed_is_refused_by_postgresql_and_nothing_is_half_applied(
    cloud: Cloud, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk, surgery = two_desks(cloud)
    push(desk, [booking("a1", "09:00", "09:30")])
    looked = Bookings._clash_stored
    misses = iter([True])

    def missing(self: Bookings, row_id: str, wanted: list[Any]) -> Any:
        # a bug in the overlap query: it does not see a1 once
        return None if next(misses, False) else looked(self, row_id, wanted)

    monkeypatch.setattr(Bookings, "_clash_stored", missing)
    body = request([booking("a2", "09:00", "09:30"), booking("fine", "11:00", "11:30")])
    refused = surgery.client.post("/v1/sync/push", json=body.model_dump(mode="json"), headers=surgery.headers)
    stored_after_refusal = sorted(stored(db, desk.clinic_id))
    again = surgery.push(body)

    assert refused.status_code == 503 and "nothing was applied" in refused.json()["detail"]
    assert stored_after_refusal == ["a1"]
    assert [(c.row_id, c.reason) for c in again.conflicts] == [("a2", "overlap")]
    assert sorted(stored(db, desk.clinic_id)) == ["a1", "fine"]


def test_the_statuses_that_hold_time_are_the_workstations_active_ones() -> None:
    assert {str(s) for s in ACTIVE} == BLOCKING_STATUSES


def test_a_booking_without_a_readable_time_span_holds_none() -> None:
    assert slots_of(booking("a1", "09:30", "09:30")) == []
    assert slots_of(booking("a1", "09:30", "09:00")) == []
    assert slots_of(booking("a1", "09:00", None)) == []
    assert slots_of(booking("a1", "09:00", "09:30", starts_at="soon")) == []
    assert [s.resource for s in slots_of(booking("a1", "09:00", "09:30", operatory_id=None))] == ["provider", "patient"]


def test_a_clash_across_midnight_names_both_days() -> None:
    late = slots_of(booking("a1", "23:30", "23:45", ends_at="2026-03-03T00:15:00Z"))[0]

    assert "23:30 UTC on 2 Mar 2026 – 00:15 UTC on 3 Mar 2026" in Clash("a1", late).message()


# SQLite, the one-machine default: no exclusion constraint, the service's query refuses


def _alembic(engine: Any, action: Any, revision: str) -> None:
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        action(cfg, revision)


def test_on_sqlite_the_migration_runs_and_the_query_refuses_a_double_booking(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cloud.db'}")
    try:
        migrate.upgrade(engine)
        assert "during" not in {c["name"] for c in inspect(engine).get_columns("appointment_slot")}
        with Session(engine, expire_on_commit=False) as session:
            clinic_id = clinics.create_clinic(session, "One-machine Dental").id
            desk, surgery = ClinicSync(session, clinic_id, "desk"), ClinicSync(session, clinic_id, "surgery")

            first = desk.push(request([booking("a1", "09:00", "09:30")]))
            clash = booking("a2", "09:15", "09:45", patient_id="pat-2")
            fine = booking("ok", "09:30", "10:00")
            second = surgery.push(request([clash, fine]))

        assert first.conflicts == []
        [conflict] = second.conflicts
        assert (conflict.row_id, conflict.reason) == ("a2", "overlap") and "this provider's" in conflict.message
        assert second.applied == 1

        _alembic(engine, command.downgrade, "0001")
        assert not inspect(engine).has_table("appointment_slot")
        _alembic(engine, command.upgrade, "head")
        assert inspect(engine).has_table("appointment_slot")
    finally:
        engine.dispose()


def test_on_postgresql_the_migration_downgrades_and_upgrades_again(postgres_admin_url: str) -> None:
    name = f"chairside_cloud_slots_down_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine)
        _alembic(engine, command.downgrade, "0001")
        assert not inspect(engine).has_table("appointment_slot")
        _alembic(engine, command.upgrade, "head")
        assert "during" in {c["name"] for c in inspect(engine).get_columns("appointment_slot")}
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
