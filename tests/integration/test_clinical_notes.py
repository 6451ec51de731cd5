"""Clinical notes through their service, on a real encrypted clinic: a draft is its author's to
edit, signing needs their password, and a signed note never changes again by any route."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.db.models import (
    Appointment,
    AppointmentType,
    AuditEvent,
    ChartEntry,
    ClinicalNote,
    Location,
    NoteTemplate,
    StaffUser,
)
from app.domain.errors import ValidationError
from app.domain.patients import PatientInput
from app.domain.permissions import Role
from app.services import clinical_notes as notes
from app.services import patients
from app.services.auth import InvalidCredentials
from app.services.clinical_notes import (
    EmptyNote,
    NoteIsDraft,
    NoteNotFound,
    NoteSigned,
    NotNoteAuthor,
    NotThisPatient,
    StaleNote,
)
from app.services.context import PermissionDenied
from tests.conftest import STAFF_PASSWORD, clinic_today

SIGNED = r"This note was signed by Test Dentist on \d\d/\d\d/\d{4}; add an addendum instead\."


@pytest.fixture
def patient_id(staff) -> str:  # type: ignore[no-untyped-def]
    return patients.register(staff[Role.DENTIST], PatientInput("Ada", "Lovelace", "12/10/1985")).id


@pytest.fixture
def dentist(staff):  # type: ignore[no-untyped-def]
    return staff[Role.DENTIST]


@pytest.fixture
def hygienist(staff):  # type: ignore[no-untyped-def]
    return staff[Role.HYGIENIST]


def chart_entry(runtime, patient_id: str, description: str, tooth: str, surfaces: str = "") -> str:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        e = ChartEntry(
            patient_id=patient_id,
            kind="procedure",
            code="RS210",
            description=description,
            tooth=tooth,
            surfaces=surfaces,
            status="completed",
            entry_date=date(2025, 3, 4),
        )
        s.add(e)
        s.commit()
        return e.id


def actions(runtime, entity_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == entity_id).order_by(AuditEvent.seq))
        )


def count_events(runtime, action: str) -> int:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def stored(runtime, note_id: str) -> ClinicalNote:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        note = s.get(ClinicalNote, note_id)
        assert note is not None
        return note


def signed_note(dentist, patient_id: str, body: str = "Caries 36 O, restored with composite."):  # type: ignore[no-untyped-def]
    draft = notes.create_note(dentist, patient_id, title="Restorative", body=body, visit_date=date(2025, 3, 4))
    return notes.sign_note(dentist, draft.id, draft.version, STAFF_PASSWORD)


# --- templates -------------------------------------------------------------------------------


def test_a_new_clinic_ships_the_usual_note_templates_with_shared_ids(dentist, runtime):
    names = [t.name for t in notes.list_templates(dentist)]
    assert sorted(names) == sorted(
        [
            "Comprehensive exam",
            "Periodic exam / recall",
            "Hygiene visit",
            "Restorative",
            "Extraction",
            "Emergency / limited exam",
            "Perio maintenance",
        ]
    )
    by_name = {t.name: t for t in notes.list_templates(dentist)}
    extraction = by_name["Extraction"]
    assert extraction.id == notes.shipped_template_id("extraction")
    assert "Anaesthetic (agent, amount, site):" in extraction.body
    assert "Post-op instructions:" in extraction.body
    with runtime.sessions() as s:  # a second run (another workstation, an upgrade) adds nothing
        assert notes.ensure_shipped_templates(s) == 0


def test_templates_made_for_the_visit_type_come_first(dentist, runtime):
    with runtime.sessions() as s:
        hygiene = AppointmentType(name="Hygiene", default_minutes=60, colour="#88cc88")
        other = AppointmentType(name="Crown prep", default_minutes=90, colour="#cc8888")
        s.add_all([hygiene, other])
        s.flush()
        s.add(NoteTemplate(name="Child hygiene", appointment_type_id=hygiene.id, body="Fluoride:\n"))
        s.add(NoteTemplate(name="Crown prep", appointment_type_id=other.id, body="Shade:\n"))
        s.commit()
        hygiene_id = hygiene.id
    rows = notes.list_templates(dentist, hygiene_id)
    assert rows[0].name == "Child hygiene"
    assert "Crown prep" not in [r.name for r in rows]
    assert len(rows) == 8


# --- drafts ----------------------------------------------------------------------------------


def test_a_note_started_from_a_template_is_an_unsigned_draft_by_its_author(dentist, runtime, patient_id):
    template = next(t for t in notes.list_templates(dentist) if t.name == "Periodic exam / recall")

    note = notes.create_note(dentist, patient_id, title="Recall exam", template_id=template.id)

    assert note.body == template.body
    assert (note.title, note.author_name, note.signed, note.addenda) == ("Recall exam", "Test Dentist", False, ())
    assert note.visit_date <= clinic_today()
    assert actions(runtime, note.id) == ["note.created"]
    # text typed before choosing a template is kept
    typed = notes.create_note(dentist, patient_id, title="Recall", body="Seen today.", template_id=template.id)
    assert typed.body == "Seen today."


def test_the_author_edits_their_draft_and_the_audit_keeps_both_texts(dentist, runtime, patient_id):
    note = notes.create_note(dentist, patient_id, title="Exam", body="Findings:", visit_date=date(2025, 3, 4))

    edited = notes.update_note(
        dentist,
        note.id,
        note.version,
        title="Exam and cleaning",
        body="Findings: calculus lower anteriors.",
        visit_date=date(2025, 3, 4),
        procedure_ids=(),
    )

    assert (edited.title, edited.body, edited.version) == (
        "Exam and cleaning",
        "Findings: calculus lower anteriors.",
        note.version + 1,
    )
    with runtime.sessions() as s:
        details = s.scalar(
            select(AuditEvent.details).where(AuditEvent.entity_id == note.id, AuditEvent.action == "note.updated")
        )
    assert '"body": ["Findings:", "Findings: calculus lower anteriors."]' in details


def test_another_clinician_cannot_edit_sign_or_discard_someone_elses_draft(dentist, hygienist, runtime, patient_id):
    note = notes.create_note(dentist, patient_id, title="Exam", body="Dentist's words.")
    with pytest.raises(NotNoteAuthor, match="Only Test Dentist can edit this draft note."):
        notes.update_note(
            hygienist,
            note.id,
            note.version,
            title="Exam",
            body="Hygienist's words.",
            visit_date=note.visit_date,
            procedure_ids=(),
        )
    with pytest.raises(NotNoteAuthor, match="Only Test Dentist can sign this draft note."):
        notes.sign_note(hygienist, note.id, note.version, STAFF_PASSWORD)
    with pytest.raises(NotNoteAuthor, match="Only Test Dentist can discard this draft note."):
        notes.discard_draft(hygienist, note.id, note.version)
    kept = stored(runtime, note.id)
    assert (kept.body, kept.signed_at, kept.deleted_at, kept.version) == ("Dentist's words.", None, None, note.version)


def test_an_edit_over_a_newer_save_is_refused_and_names_who_saved(dentist, runtime, patient_id):
    note = notes.create_note(dentist, patient_id, title="Exam", body="First.")
    notes.update_note(
        dentist, note.id, note.version, title="Exam", body="Second.", visit_date=note.visit_date, procedure_ids=()
    )
    with pytest.raises(StaleNote, match=r"changed by dentist at .* your changes were not saved"):
        notes.update_note(
            dentist, note.id, note.version, title="Exam", body="Stale.", visit_date=note.visit_date, procedure_ids=()
        )
    assert stored(runtime, note.id).body == "Second."


def test_a_note_needs_a_title_and_cannot_be_dated_in_the_future(dentist, patient_id):
    with pytest.raises(ValidationError, match="Give the note a title."):
        notes.create_note(dentist, patient_id, title="  ", body="x")
    with pytest.raises(ValidationError, match="cannot be in the future"):
        notes.create_note(dentist, patient_id, title="Exam", visit_date=date(2999, 1, 1))
    assert notes.list_notes(dentist, patient_id) == []


def test_procedures_done_at_the_visit_are_linked_and_relinked(dentist, runtime, patient_id):
    filling = chart_entry(runtime, patient_id, "Composite, two surfaces", "36", "MO")
    sealant = chart_entry(runtime, patient_id, "Sealant", "46")
    other = patients.register(dentist, PatientInput("Charles", "Babbage", "12/26/1971")).id
    theirs = chart_entry(runtime, other, "Crown", "11")

    with pytest.raises(NotThisPatient, match="not on this patient's chart"):
        notes.create_note(dentist, patient_id, title="Restorative", procedure_ids=[filling, theirs])
    note = notes.create_note(dentist, patient_id, title="Restorative", body="Done.", procedure_ids=[filling])
    assert [(p.description, p.tooth, p.surfaces, p.status) for p in note.procedures] == [
        ("Composite, two surfaces", "36", "MO", "completed")
    ]

    relinked = notes.update_note(
        dentist,
        note.id,
        note.version,
        title=note.title,
        body=note.body,
        visit_date=note.visit_date,
        procedure_ids=[sealant],
    )

    assert [p.chart_entry_id for p in relinked.procedures] == [sealant]
    assert relinked.version == note.version + 1
    (listed,) = notes.list_notes(dentist, patient_id)
    assert [p.description for p in listed.procedures] == ["Sealant"]


def test_a_note_for_an_appointment_takes_the_visits_local_date(dentist, runtime, patient_id):
    with runtime.sessions() as s:
        loc = Location(name="Main Street", time_zone="America/New_York")
        s.add(loc)
        s.flush()
        provider = s.scalar(select(StaffUser.id).where(StaffUser.username == "dentist"))
        # 23:30 in New York on 4 March is already 5 March in UTC
        appt = Appointment(
            patient_id=patient_id,
            provider_id=provider,
            location_id=loc.id,
            starts_at=datetime(2025, 3, 5, 4, 30, tzinfo=UTC),
            ends_at=datetime(2025, 3, 5, 5, 0, tzinfo=UTC),
            time_zone="America/New_York",
            status="completed",
        )
        s.add(appt)
        s.commit()
        appt_id = appt.id
    note = notes.create_note(dentist, patient_id, title="Emergency", appointment_id=appt_id)
    assert (note.visit_date, note.appointment_id) == (date(2025, 3, 4), appt_id)
    other = patients.register(dentist, PatientInput("Charles", "Babbage", "12/26/1971")).id
    with pytest.raises(NotThisPatient, match="not one of this patient's visits"):
        notes.create_note(dentist, other, title="Emergency", appointment_id=appt_id)


def test_notes_list_newest_visit_first_and_each_listing_is_audited(dentist, runtime, patient_id):
    older = notes.create_note(dentist, patient_id, title="Exam", body="a", visit_date=date(2024, 5, 1))
    newer = notes.create_note(dentist, patient_id, title="Filling", body="b", visit_date=date(2025, 1, 9))
    assert [n.id for n in notes.list_notes(dentist, patient_id)] == [newer.id, older.id]
    with runtime.sessions() as s:
        listed = s.scalars(select(AuditEvent).where(AuditEvent.action == "notes.listed")).all()
    assert [e.patient_id for e in listed] == [patient_id]


def test_a_discarded_draft_is_gone(dentist, runtime, patient_id):
    note = notes.create_note(dentist, patient_id, title="Wrong patient", body="oops")
    notes.discard_draft(dentist, note.id, note.version)
    assert notes.list_notes(dentist, patient_id) == []
    with pytest.raises(NoteNotFound):
        notes.get_note(dentist, note.id)
    assert actions(runtime, note.id)[-1] == "note.discarded"


# --- signing ---------------------------------------------------------------------------------


def test_signing_with_a_wrong_password_leaves_the_note_a_draft_and_counts_the_failure(dentist, runtime, patient_id):
    note = notes.create_note(dentist, patient_id, title="Exam", body="Findings: none.")

    with pytest.raises(InvalidCredentials, match="Wrong password."):
        notes.sign_note(dentist, note.id, note.version, "not-my-password")

    again = notes.get_note(dentist, note.id)
    assert (again.signed, again.signed_at, again.version) == (False, None, note.version)
    assert "note.signed" not in actions(runtime, note.id)
    with runtime.sessions() as s:
        failures = s.scalar(select(StaffUser.failed_logins).where(StaffUser.username == "dentist"))
    assert failures == 1


def test_an_empty_note_cannot_be_signed(dentist, patient_id):
    note = notes.create_note(dentist, patient_id, title="Exam", body="  \n ")
    with pytest.raises(EmptyNote, match="An empty note cannot be signed."):
        notes.sign_note(dentist, note.id, note.version, STAFF_PASSWORD)


def test_a_signed_note_refuses_every_change_and_its_text_stays(dentist, hygienist, runtime, patient_id):
    filling = chart_entry(runtime, patient_id, "Composite, one surface", "36", "O")
    note = signed_note(dentist, patient_id)
    assert note.signed and note.signed_at is not None
    assert actions(runtime, note.id) == ["note.created", "note.signed"]

    with pytest.raises(NoteSigned, match=SIGNED):
        notes.update_note(
            dentist,
            note.id,
            note.version,
            title="Changed",
            body="Changed.",
            visit_date=note.visit_date,
            procedure_ids=(),
        )
    with pytest.raises(NoteSigned, match=SIGNED):  # relinking procedures is a change too
        notes.update_note(
            dentist,
            note.id,
            note.version,
            title=note.title,
            body=note.body,
            visit_date=note.visit_date,
            procedure_ids=[filling],
        )
    with pytest.raises(NoteSigned, match=r"already signed by Test Dentist"):
        notes.sign_note(dentist, note.id, note.version, STAFF_PASSWORD)
    with pytest.raises(NoteSigned, match=SIGNED):
        notes.discard_draft(dentist, note.id, note.version)
    with pytest.raises(NoteSigned, match=SIGNED):  # not the author: still the signed-note answer
        notes.update_note(
            hygienist, note.id, note.version, title="x", body="x", visit_date=note.visit_date, procedure_ids=()
        )

    kept = stored(runtime, note.id)
    assert (kept.title, kept.body, kept.version, kept.signed_at, kept.deleted_at) == (
        "Restorative",
        "Caries 36 O, restored with composite.",
        note.version,
        note.signed_at,
        None,
    )
    assert notes.get_note(dentist, note.id).procedures == ()
    assert actions(runtime, note.id)[-1] == "note.opened"


def test_the_database_itself_refuses_to_change_a_signed_note(dentist, runtime, patient_id):
    note = signed_note(dentist, patient_id)
    with pytest.raises(DBAPIError, match="signed note is immutable"):
        with runtime.engine.begin() as conn:
            conn.execute(text("UPDATE clinical_note SET body = 'x' WHERE id = :id"), {"id": note.id})
    with pytest.raises(DBAPIError, match="signed note is immutable"):
        with runtime.engine.begin() as conn:
            conn.execute(text("DELETE FROM clinical_note WHERE id = :id"), {"id": note.id})
    assert stored(runtime, note.id).body == "Caries 36 O, restored with composite."


def test_an_addendum_extends_a_signed_note_with_its_own_author_and_time(dentist, hygienist, runtime, patient_id):
    note = signed_note(dentist, patient_id)
    before = datetime.now(UTC)

    with pytest.raises(InvalidCredentials):
        notes.add_addendum(hygienist, note.id, "Patient phoned: no pain.", "wrong-password")
    with pytest.raises(EmptyNote):
        notes.add_addendum(hygienist, note.id, "   ", STAFF_PASSWORD)
    extended = notes.add_addendum(hygienist, note.id, "Patient phoned: no pain.", STAFF_PASSWORD)

    (addendum,) = extended.addenda
    assert (addendum.body, addendum.author_name) == ("Patient phoned: no pain.", "Test Hygienist")
    assert before <= addendum.signed_at <= datetime.now(UTC)
    assert (extended.body, extended.author_name, extended.version) == (note.body, "Test Dentist", note.version)
    assert actions(runtime, note.id)[-1] == "note.addendum_added"
    (listed,) = notes.list_notes(dentist, patient_id)
    assert [a.body for a in listed.addenda] == ["Patient phoned: no pain."]
    with pytest.raises(DBAPIError, match="addendum is immutable"):
        with runtime.engine.begin() as conn:
            conn.execute(text("UPDATE note_addendum SET body = 'x' WHERE id = :id"), {"id": addendum.id})


def test_a_draft_takes_no_addendum(dentist, patient_id):
    draft = notes.create_note(dentist, patient_id, title="Exam", body="x")
    with pytest.raises(NoteIsDraft, match="Drafts are edited directly; addenda extend signed notes."):
        notes.add_addendum(dentist, draft.id, "More.", STAFF_PASSWORD)


# --- who may -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.ADMINISTRATOR])
def test_front_desk_and_administrators_can_neither_read_nor_write_notes(staff, runtime, patient_id, role):
    dentist, desk = staff[Role.DENTIST], staff[role]
    draft = notes.create_note(dentist, patient_id, title="Exam", body="Private findings.")
    signed = signed_note(dentist, patient_id)
    denied = count_events(runtime, "permission.denied")
    calls = [
        lambda: notes.list_templates(desk),
        lambda: notes.list_notes(desk, patient_id),
        lambda: notes.get_note(desk, draft.id),
        lambda: notes.create_note(desk, patient_id, title="Exam", body="x"),
        lambda: notes.update_note(
            desk, draft.id, draft.version, title="x", body="x", visit_date=draft.visit_date, procedure_ids=()
        ),
        lambda: notes.sign_note(desk, draft.id, draft.version, STAFF_PASSWORD),
        lambda: notes.add_addendum(desk, signed.id, "x", STAFF_PASSWORD),
        lambda: notes.discard_draft(desk, draft.id, draft.version),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied, match="does not allow this"):
            call()
    assert count_events(runtime, "permission.denied") == denied + len(calls)
    assert stored(runtime, draft.id).body == "Private findings."
    assert count_events(runtime, "notes.listed") == 0
