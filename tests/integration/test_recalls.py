"""The recall list: due dates set by completed visits, the front desk's states, contact marks."""

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.models import AuditEvent, PatientRecall
from app.domain.errors import UserError
from app.domain.permissions import Role
from app.domain.scheduling import VisitStatus
from app.services import recalls, scheduling
from app.services.context import Ctx, PermissionDenied
from app.services.runtime import ClinicRuntime
from tests.integration.scheduling_fixtures import (
    EVERY_DAY,
    Book,
    Template,
    add_appointment_type,
    add_patient,
    add_recall_type,
    contexts,
    make_book,
    make_template,
    open_copy,
)

D, H, R, A = Role.DENTIST, Role.HYGIENIST, Role.RECEPTIONIST, Role.ADMINISTRATOR
S = VisitStatus
TODAY = date(2031, 6, 16)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return make_template(tmp_path_factory.mktemp("template") / "clinic")


@pytest.fixture
def runtime(template: Template, tmp_path: Path) -> Iterator[ClinicRuntime]:
    rt = open_copy(template, tmp_path / "clinic")
    yield rt
    rt.close()


@pytest.fixture
def staff(runtime: ClinicRuntime, template: Template) -> dict[Role, Ctx]:
    return contexts(runtime, template)


@pytest.fixture
def admin(staff: dict[Role, Ctx]) -> Ctx:
    return staff[A]


@pytest.fixture
def desk(staff: dict[Role, Ctx]) -> Ctx:
    return staff[R]


@pytest.fixture
def book(admin: Ctx) -> Book:
    return make_book(admin, hours=[(d, "08:00", "17:00") for d in EVERY_DAY])


@pytest.fixture
def hygiene(admin: Ctx) -> str:
    """The hygiene visit's appointment type, which a six-monthly recall follows."""
    return add_appointment_type(admin, "Hygiene visit", 60)


@pytest.fixture
def hyg_recall(admin: Ctx, hygiene: str) -> str:
    return add_recall_type(admin, "HYG", 6, hygiene)


@pytest.fixture
def ada(admin: Ctx) -> str:
    return add_patient(
        admin, "Ada", "Lovelace", mobile_phone="(212) 555-0142", consent_sms=True, preferred_contact="sms"
    )


def complete_visit(ctx: Ctx, book: Book, patient: str, day: date, type_id: str | None) -> str:
    v = scheduling.book(ctx, book.request(patient, day, "10:00", "11:00", type_id=type_id))
    for target in (S.ARRIVED, S.SEATED, S.COMPLETED):
        v = scheduling.set_status(ctx, v.id, v.version, target)
    return v.id


def patient_recalls(ctx: Ctx, patient: str) -> dict[str, tuple[date | None, date | None]]:
    """Recall type id -> (last completed, due date)."""
    with ctx.runtime.sessions() as s:
        rows = s.scalars(select(PatientRecall).where(PatientRecall.patient_id == patient))
        return {r.recall_type_id: (r.last_completed, r.due_date) for r in rows}


def add_recall(ctx: Ctx, patient: str, recall_type: str, due: date, *, contacted: bool = False) -> str:
    from app.db.types import utcnow

    with ctx.uow() as uow:
        r = PatientRecall(
            patient_id=patient,
            recall_type_id=recall_type,
            last_completed=due - timedelta(days=182),
            due_date=due,
            contacted_at=utcnow() if contacted else None,
        )
        uow.session.add(r)
        uow.commit()
        return r.id


def events(ctx: Ctx, action: str) -> list[AuditEvent]:
    with ctx.runtime.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_completing_a_hygiene_visit_sets_the_recall_six_months_on(desk, book, hyg_recall, hygiene, ada):
    visit = complete_visit(desk, book, ada, date(2026, 3, 10), hygiene)
    assert patient_recalls(desk, ada) == {hyg_recall: (date(2026, 3, 10), date(2026, 9, 10))}
    [ev] = events(desk, "recall.refreshed")
    assert (ev.patient_id, ev.username) == (ada, "receptionist")
    assert json.loads(ev.details) == {
        "appointment_id": visit,
        "due_date": "2026-09-10",
        "last_completed": "2026-03-10",
    }
    [row] = recalls.recall_list(desk, today=date(2026, 9, 1))
    assert (row.patient_name, row.recall_code, row.due_date, row.state) == (
        "Lovelace, Ada",
        "HYG",
        date(2026, 9, 10),
        "due",
    )
    assert (row.last_completed, row.contact_channel, row.contact) == (date(2026, 3, 10), "sms", "+12125550142")


def test_a_visit_on_the_last_of_a_month_is_due_on_the_last_of_a_shorter_month(admin, desk, book, hygiene, ada):
    six = add_recall_type(admin, "HYG", 6, hygiene)
    three = add_recall_type(admin, "PERIO", 3, hygiene)
    complete_visit(desk, book, ada, date(2026, 8, 31), hygiene)
    assert patient_recalls(desk, ada) == {
        six: (date(2026, 8, 31), date(2027, 2, 28)),
        three: (date(2026, 8, 31), date(2026, 11, 30)),
    }


def test_a_leap_year_february_gets_its_29th(admin, desk, book, hygiene, ada):
    hyg = add_recall_type(admin, "HYG", 6, hygiene)
    complete_visit(desk, book, ada, date(2027, 8, 31), hygiene)
    assert patient_recalls(desk, ada)[hyg][1] == date(2028, 2, 29)


def test_visits_of_other_types_and_cancelled_visits_leave_recalls_alone(admin, desk, book, hyg_recall, hygiene, ada):
    filling = add_appointment_type(admin, "Filling", 30)
    complete_visit(desk, book, ada, date(2026, 3, 10), filling)
    complete_visit(desk, book, ada, date(2026, 3, 11), None)
    v = scheduling.book(desk, book.request(ada, date(2026, 3, 12), "10:00", "11:00", type_id=hygiene))
    scheduling.set_status(desk, v.id, v.version, S.CANCELLED, reason="patient ill")
    assert patient_recalls(desk, ada) == {}


def test_completing_an_older_visit_late_does_not_pull_the_recall_back(desk, book, hyg_recall, hygiene, ada):
    older = scheduling.book(desk, book.request(ada, date(2026, 1, 5), "10:00", "11:00", type_id=hygiene))
    complete_visit(desk, book, ada, date(2026, 3, 10), hygiene)
    for target in (S.ARRIVED, S.SEATED, S.COMPLETED):
        older = scheduling.set_status(desk, older.id, older.version, target)
    assert patient_recalls(desk, ada) == {hyg_recall: (date(2026, 3, 10), date(2026, 9, 10))}


def test_the_recall_list_shows_overdue_due_upcoming_and_contacted_recalls(admin, desk, hyg_recall):
    names = ["Overdue", "Due", "Upcoming", "Contacted", "Contacted-early"]
    ids = {n: add_patient(admin, n, "Patient", home_phone="(212) 555-0100") for n in names}
    add_recall(admin, ids["Overdue"], hyg_recall, TODAY - timedelta(days=10))
    add_recall(admin, ids["Due"], hyg_recall, TODAY + timedelta(days=10))
    add_recall(admin, ids["Upcoming"], hyg_recall, TODAY + timedelta(days=60))
    add_recall(admin, ids["Contacted"], hyg_recall, TODAY - timedelta(days=5), contacted=True)
    # contacted in an earlier round: while it is not yet due it still shows as upcoming
    add_recall(admin, ids["Contacted-early"], hyg_recall, TODAY + timedelta(days=90), contacted=True)

    everyone = recalls.recall_list(desk, today=TODAY)
    assert [(r.patient_name.split(",")[1].strip(), r.state) for r in everyone] == [
        ("Overdue", "overdue"),
        ("Contacted", "contacted"),
        ("Due", "due"),
        ("Upcoming", "upcoming"),
        ("Contacted-early", "upcoming"),
    ]
    for state, expected in [
        ("overdue", ["Overdue"]),
        ("due", ["Due"]),
        ("upcoming", ["Upcoming", "Contacted-early"]),
        ("contacted", ["Contacted"]),
    ]:
        rows = recalls.recall_list(desk, state=state, today=TODAY)
        assert [r.patient_name.split(", ")[1] for r in rows] == expected, state
    # phone numbers without an SMS consent: the desk calls them
    assert {(r.contact_channel, r.contact) for r in everyone} == {("phone", "+12125550100")}


def test_reading_the_recall_list_is_audited(desk, hyg_recall, ada):
    add_recall(desk, ada, hyg_recall, TODAY)
    recalls.recall_list(desk, state="due", today=TODAY)
    [ev] = events(desk, "recall.list_viewed")
    assert ev.username == "receptionist"
    assert json.loads(ev.details) == {"rows": 1, "state": "due", "today": "2031-06-16"}


def test_an_unknown_state_is_refused_with_a_message(desk):
    with pytest.raises(UserError, match="Unknown recall state 'late'"):
        recalls.recall_list(desk, state="late", today=TODAY)  # type: ignore[arg-type]


def test_marking_a_recall_contacted_moves_it_off_the_call_list_until_the_next_visit(
    desk, book, hyg_recall, hygiene, ada
):
    june = date(2026, 6, 1)
    recall_id = add_recall(desk, ada, hyg_recall, june + timedelta(days=3))
    assert [r.state for r in recalls.recall_list(desk, today=june)] == ["due"]
    row = recalls.mark_contacted(desk, recall_id, today=june)
    assert (row.state, row.contacted_at is not None) == ("contacted", True)
    assert recalls.recall_list(desk, state="due", today=june) == []
    [ev] = events(desk, "recall.contacted")
    assert (ev.entity_id, ev.patient_id, ev.username) == (recall_id, ada, "receptionist")

    # the visit happens: a new round starts, with no contact mark
    complete_visit(desk, book, ada, june, hygiene)
    [row] = recalls.recall_list(desk, today=date(2026, 11, 20))
    assert (row.due_date, row.state, row.contacted_at) == (date(2026, 12, 1), "due", None)


def test_marking_a_missing_recall_is_refused(desk):
    with pytest.raises(recalls.RecallNotFound):
        recalls.mark_contacted(desk, "no-such-recall")


# role -> (may read the recall list, may mark a recall contacted)
EXPECTED: dict[Role, tuple[bool, bool]] = {
    D: (True, True),
    H: (True, False),
    R: (True, True),
    A: (True, True),
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_can_read_and_mark_recalls_as_the_table_says(staff, hyg_recall, ada, role):
    may_read, may_mark = EXPECTED[role]
    recall_id = add_recall(staff[A], ada, hyg_recall, TODAY)
    assert may_read and len(recalls.recall_list(staff[role], today=TODAY)) == 1
    if may_mark:
        assert recalls.mark_contacted(staff[role], recall_id, today=TODAY).state == "contacted"
    else:
        with pytest.raises(PermissionDenied, match="appointments:write"):
            recalls.mark_contacted(staff[role], recall_id, today=TODAY)
        assert [r.state for r in recalls.recall_list(staff[A], today=TODAY)] == ["due"]
