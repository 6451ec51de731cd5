"""Pull and push: cursors, tombstones, idempotent retries, conflicts and the field-by-field merge."""

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sync.protocol import FIELD_VERSIONS_KEY, PushRequest, TableChanges
from sync.server.models import Clinic, Device, PushReceipt, SyncRow, utcnow
from sync.server.services import devices
from tests.server.conftest import Cloud, Workstation

T0 = "2026-03-02T09:00:00.000000Z"
T1 = "2026-03-02T10:15:00.000000Z"
T2 = "2026-03-02T10:20:00.000000Z"
T3 = "2026-03-02T10:25:00.000000Z"


def patient(row_id: str, version: int, **fields: object) -> dict[str, object]:
    return {"id": row_id, "version": version, **fields}


def push(ws: Workstation, changes: dict[str, TableChanges], cursor: int, push_id: str | None = None):  # type: ignore[no-untyped-def]
    import uuid

    return ws.push(PushRequest(push_id=push_id or uuid.uuid4().hex, last_pulled_cursor=cursor, changes=changes))


def stored(db: Session, clinic_id: str) -> list[tuple[str, str, int, bool, int, dict]]:  # type: ignore[type-arg]
    db.expire_all()
    rows = db.scalars(select(SyncRow).where(SyncRow.clinic_id == clinic_id).order_by(SyncRow.server_seq))
    return [(r.table_name, r.row_id, r.version, r.deleted, r.server_seq, r.data) for r in rows]


def test_pull_from_a_cursor_returns_only_later_changes_as_created_updated_deleted(cloud: Cloud) -> None:
    clinic_id = cloud.clinic()
    desk, surgery = cloud.enrol(clinic_id, "Front desk"), cloud.enrol(clinic_id, "Surgery")
    first = push(
        desk,
        {
            "patient": TableChanges(created=[patient("p1", 1, last_name="Ames"), patient("p2", 1, last_name="Bell")]),
            "recall": TableChanges(created=[{"id": "r1", "version": 1, "due": "2026-09-01"}]),
        },
        0,
    )
    everything = surgery.pull(0)
    second = push(
        desk,
        {
            "patient": TableChanges(updated=[patient("p1", 2, last_name="Ames-Cole")], created=[patient("p3", 1)]),
            "recall": TableChanges(deleted=["r1"]),
        },
        0,
    )
    later = surgery.pull(everything.cursor)

    assert first.applied == 3 and first.conflicts == []
    assert {r["id"] for r in everything.changes["patient"].created} == {"p1", "p2"}
    assert everything.cursor == first.cursor == 3
    assert second.applied == 3
    assert later.cursor == 6
    assert [r["id"] for r in later.changes["patient"].created] == ["p3"]
    assert [(r["id"], r["last_name"], r["version"]) for r in later.changes["patient"].updated] == [
        ("p1", "Ames-Cole", 2)
    ]
    assert later.changes["recall"].model_dump() == {"created": [], "updated": [], "deleted": ["r1"]}
    # nothing new since: an empty pull that keeps the cursor
    assert surgery.pull(later.cursor).changes == {}


def test_a_workstation_is_not_sent_back_the_rows_it_pushed(cloud: Cloud) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)

    result = push(desk, {"patient": TableChanges(created=[patient("p1", 1, last_name="Ames")])}, 0)
    pulled = desk.pull(0)

    assert pulled.changes == {}
    assert pulled.cursor == result.cursor


def test_polling_at_the_head_still_checks_revocation_and_notes_when_it_was_seen(cloud: Cloud, db: Session) -> None:
    desk = cloud.enrol(cloud.clinic())
    head = push(desk, {"patient": TableChanges(created=[patient("p1", 1, last_name="Ames")])}, 0).cursor
    assert desk.pull(head).changes == {}  # the quick no-change answer

    an_hour_ago = utcnow() - timedelta(hours=1)
    db.execute(update(Device).where(Device.id == desk.device_id).values(last_seen_at=an_hour_ago))
    db.commit()
    assert desk.pull(head).cursor == head
    db.expire_all()
    assert db.get_one(Device, desk.device_id).last_seen_at > an_hour_ago  # noted again

    devices.revoke(db, desk.clinic_id, desk.device_id)
    refused = desk.client.get("/v1/sync/pull", params={"cursor": head}, headers=desk.headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_a_big_first_sync_comes_in_pages(cloud: Cloud) -> None:
    clinic_id = cloud.clinic()
    desk, surgery = cloud.enrol(clinic_id), cloud.enrol(clinic_id)
    push(desk, {"patient": TableChanges(created=[patient(f"p{i}", 1) for i in range(5)])}, 0)

    pages, cursor, more = [], 0, True
    while more:
        page = surgery.pull(cursor, limit=2)
        pages.append([r["id"] for r in page.changes["patient"].created] if page.changes else [])
        cursor, more = page.cursor, page.has_more

    assert pages == [["p0", "p1"], ["p2", "p3"], ["p4"]]


def test_a_retried_push_changes_nothing_and_gets_the_first_reply(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    desk, surgery = cloud.enrol(clinic_id), cloud.enrol(clinic_id)
    changes = {"patient": TableChanges(created=[patient("p1", 1, last_name="Ames")])}
    first = push(desk, changes, 0, push_id="push-0001")
    # the clinic moves on before the retry arrives
    push(surgery, {"recall": TableChanges(created=[{"id": "r1", "version": 1}])}, 0)
    before = stored(db, clinic_id)

    retry = push(desk, changes, 0, push_id="push-0001")

    assert retry == first
    assert stored(db, clinic_id) == before
    assert db.scalar(select(Clinic.last_seq).where(Clinic.id == clinic_id)) == 2
    receipts = db.scalars(select(PushReceipt).where(PushReceipt.clinic_id == clinic_id)).all()
    assert len(receipts) == 2


def test_a_push_id_reused_for_other_changes_is_refused_and_nothing_applied(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)
    push(desk, {"patient": TableChanges(created=[patient("p1", 1)])}, 0, push_id="push-0001")
    before = stored(db, clinic_id)

    reused = desk.push_changes({"patient": {"created": [patient("p2", 1)]}}, push_id="push-0001")

    assert reused.status_code == 409
    assert "already used" in reused.json()["detail"]
    assert stored(db, clinic_id) == before


def test_patient_edits_on_two_workstations_from_the_same_base_merge_field_by_field(cloud: Cloud) -> None:
    clinic_id = cloud.clinic()
    desk, surgery = cloud.enrol(clinic_id, "Front desk"), cloud.enrol(clinic_id, "Surgery")
    base = {"last_name": "Ames", "mobile_phone": "+15550100", "email": "", "city": "Salem", "updated_at": T0}
    base_times = dict.fromkeys(("last_name", "mobile_phone", "email", "city"), T0)
    created = push(desk, {"patient": TableChanges(created=[patient("p1", 1, **base, _field_versions=base_times)])}, 0)
    surgery.pull(0)
    # both start from version 1: the desk changes the phone and the city, the surgery the email and the city later
    desk_edit = {**base, "mobile_phone": "+15550199", "city": "Beverly", "updated_at": T1}
    desk_times = {**base_times, "mobile_phone": T1, "city": T1}
    surgery_edit = {**base, "email": "ames@example.org", "city": "Lynn", "updated_at": T2}
    surgery_times = {**base_times, "email": T2, "city": T2}

    push(
        desk,
        {"patient": TableChanges(updated=[patient("p1", 2, **desk_edit, _field_versions=desk_times)])},
        created.cursor,
    )
    result = push(
        surgery,
        {"patient": TableChanges(updated=[patient("p1", 2, **surgery_edit, _field_versions=surgery_times)])},
        created.cursor,
    )
    at_desk = desk.pull(created.cursor).changes["patient"].updated
    at_surgery = surgery.pull(created.cursor).changes["patient"].updated

    assert result.applied == 1 and result.conflicts == []
    assert at_desk == at_surgery
    (merged,) = at_desk
    assert merged["mobile_phone"] == "+15550199"  # only the desk changed it
    assert merged["email"] == "ames@example.org"  # only the surgery changed it
    assert merged["city"] == "Lynn"  # both changed it: the later write wins
    assert merged["last_name"] == "Ames"
    assert merged["version"] == 3
    assert merged[FIELD_VERSIONS_KEY]["mobile_phone"] == T1
    assert merged[FIELD_VERSIONS_KEY]["city"] == T2


def test_the_later_write_of_a_patient_field_wins_even_when_it_arrives_first(cloud: Cloud) -> None:
    clinic_id = cloud.clinic()
    desk, surgery = cloud.enrol(clinic_id), cloud.enrol(clinic_id)
    times = {"city": T0}
    created = push(desk, {"patient": TableChanges(created=[patient("p1", 1, city="Salem", _field_versions=times)])}, 0)

    push(
        surgery,
        {"patient": TableChanges(updated=[patient("p1", 2, city="Lynn", _field_versions={"city": T3})])},
        created.cursor,
    )
    push(
        desk,
        {"patient": TableChanges(updated=[patient("p1", 2, city="Beverly", _field_versions={"city": T1})])},
        created.cursor,
    )

    (row,) = desk.pull(created.cursor).changes["patient"].updated
    assert (row["city"], row["version"]) == ("Lynn", 2)
    assert surgery.pull(created.cursor).changes == {}  # the surgery's row stood unchanged


def test_other_tables_take_the_newer_version_and_report_a_stale_one_as_a_conflict(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    desk, surgery = cloud.enrol(clinic_id, "Front desk"), cloud.enrol(clinic_id, "Surgery")
    plan = {"id": "tp1", "version": 1, "title": "Upper crowns", "status": "proposed"}
    created = push(desk, {"treatment_plan": TableChanges(created=[plan])}, 0)
    surgery.pull(0)

    push(desk, {"treatment_plan": TableChanges(updated=[{**plan, "version": 2, "status": "accepted"}])}, created.cursor)
    tie = push(
        surgery,
        {"treatment_plan": TableChanges(updated=[{**plan, "version": 2, "status": "declined"}])},
        created.cursor,
    )
    newer = push(
        surgery, {"treatment_plan": TableChanges(updated=[{**plan, "version": 3, "status": "on hold"}])}, created.cursor
    )

    assert tie.applied == 0
    (conflict,) = tie.conflicts
    assert (conflict.table, conflict.row_id, conflict.reason) == ("treatment_plan", "tp1", "version_not_newer")
    assert conflict.server_row is not None and conflict.server_row["status"] == "accepted"
    assert newer.applied == 1 and newer.conflicts == []
    (row,) = desk.pull(created.cursor).changes["treatment_plan"].updated
    assert (row["status"], row["version"]) == ("on hold", 3)


def test_deletions_are_tombstones_and_a_later_edit_of_a_deleted_row_is_a_conflict(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    desk, surgery = cloud.enrol(clinic_id), cloud.enrol(clinic_id)
    created = push(desk, {"recall": TableChanges(created=[{"id": "r1", "version": 1, "due": "2026-09-01"}])}, 0)

    push(desk, {"recall": TableChanges(deleted=["r1"])}, created.cursor)
    edit = push(
        surgery, {"recall": TableChanges(updated=[{"id": "r1", "version": 5, "due": "2026-10-01"}])}, created.cursor
    )

    assert [c.reason for c in edit.conflicts] == ["deleted_on_server"]
    ((table, row_id, version, deleted, _seq, data),) = stored(db, clinic_id)
    assert (table, row_id, version, deleted, data["due"]) == ("recall", "r1", 2, True, "2026-09-01")
    assert surgery.pull(0).changes["recall"].deleted == ["r1"]


def test_a_client_with_another_schema_is_told_to_upgrade_and_nothing_is_applied(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    old = cloud.enrol(clinic_id)
    old.schema = "0004"

    pushed = old.push_changes({"patient": {"created": [patient("p1", 1, last_name="Ames")]}})
    pulled = cloud.client.get("/v1/sync/pull", params={"cursor": 0}, headers=old.headers)
    unstated = cloud.client.get("/v1/sync/pull", params={"cursor": 0}, headers={"Authorization": f"Bearer {old.token}"})

    for refused in (pushed, pulled, unstated):
        assert refused.status_code == 426
        assert "upgrade Chairside" in refused.json()["detail"]
    assert stored(db, clinic_id) == []
    assert db.scalars(select(PushReceipt).where(PushReceipt.clinic_id == clinic_id)).all() == []


def test_a_malformed_push_is_refused_whole(cloud: Cloud, db: Session) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id)

    response = desk.push_changes({"patient": {"created": [patient("p1", 1), {"id": "p2"}]}})

    assert response.status_code == 422
    assert stored(db, clinic_id) == []


def test_concurrent_pushes_get_distinct_sequence_numbers_and_a_pull_alongside_misses_none(
    cloud: Cloud, database_url: str
) -> None:
    import threading

    from sync.server.db import make_engine, make_sessionmaker
    from sync.server.services.sync import ClinicSync

    clinic_id = cloud.clinic()
    writers = [cloud.enrol(clinic_id, f"Surgery {i}") for i in range(4)]
    reader = cloud.enrol(clinic_id, "Front desk")
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    errors: list[BaseException] = []

    def write(ws: Workstation) -> None:
        try:
            for batch in range(5):
                with sessions() as session:
                    ClinicSync(session, clinic_id, ws.device_id).push(
                        PushRequest(
                            push_id=f"{ws.device_id}-{batch}",
                            last_pulled_cursor=0,
                            changes={
                                "recall": TableChanges(
                                    created=[{"id": f"{ws.device_id}-{batch}-{i}", "version": 1} for i in range(10)]
                                )
                            },
                        )
                    )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(ws,)) for ws in writers]
    seen: set[str] = set()
    cursor = 0
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        page = reader.pull(cursor)
        seen.update(r["id"] for r in page.changes.get("recall", TableChanges()).created)
        cursor = page.cursor
    for thread in threads:
        thread.join()
    while True:
        page = reader.pull(cursor)
        seen.update(r["id"] for r in page.changes.get("recall", TableChanges()).created)
        cursor = page.cursor
        if not page.has_more:
            break
    engine.dispose()

    assert errors == []
    seqs = [seq for _t, _id, _v, _d, seq, _data in stored(cloud.db, clinic_id)]
    assert seqs == list(range(1, 201))
    assert len(seen) == 200
