"""The recall list: due dates set by completed visits, the front desk's states, contact marks."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.db.models import AuditEvent, OutboxMessage, PatientRecall, ReminderRule
from app.domain.errors import UserError
from app.domain.permissions import Role
from app.domain.scheduling import VisitStatus
from app.services import recalls, reminders, scheduling
from app.services.context import Ctx, PermissionDenied
from tests.integration.scheduling_fixtures import (
    EVERY_DAY,
    Book,
    add_appointment_type,
    add_patient,
    add_recall,
    add_recall_type,
    make_book,
)

D, H, R, A = Role.DENTIST, Role.HYGIENIST, Role.RECEPTIONIST, Role.ADMINISTRATOR
S = VisitStatus
TODAY = date(2031, 6, 16)


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


# --- sending a recall notice from the desk ---------------------------------------------------

# 15:00 in New York on TODAY: the clinic is open, so nothing is held for quiet hours
AFTERNOON = datetime(2031, 6, 16, 19, 0, tzinfo=UTC)


def outbox_rows(ctx: Ctx) -> list[OutboxMessage]:
    with ctx.runtime.sessions() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


def test_sending_a_recall_notice_queues_one_sms_and_marks_the_recall_contacted(desk, hyg_recall, ada):
    recall_id = add_recall(desk, ada, hyg_recall, TODAY + timedelta(days=5))
    message_id = recalls.send_recall_notice(desk, recall_id, now=AFTERNOON)

    [m] = outbox_rows(desk)
    assert (m.id, m.queue, m.status) == (message_id, "standard", "pending")
    assert (m.channel, m.recipient) == ("sms", "+12125550142")
    assert m.patient_id == ada and m.dedupe_key == f"recall:{recall_id}:2031-06-21:manual:2031-06-16"
    assert m.subject == "Time for your next visit to Test Dental"
    assert m.body.startswith("Hi Ada, you are due for a visit to Test Dental around Saturday, June 21.")
    assert m.next_attempt_at == AFTERNOON
    [row] = recalls.recall_list(desk, today=TODAY)
    assert (row.state, row.contacted_at) == ("contacted", AFTERNOON)
    [ev] = events(desk, "recall.notice_queued")
    assert (ev.entity_id, ev.patient_id, ev.username) == (recall_id, ada, "receptionist")
    assert json.loads(ev.details) == {"due_date": "2031-06-21", "channel": "sms", "message_id": message_id}


def test_a_second_send_the_same_day_is_refused_and_a_later_day_sends_again(desk, hyg_recall, ada):
    recall_id = add_recall(desk, ada, hyg_recall, TODAY - timedelta(days=20))
    recalls.send_recall_notice(desk, recall_id, now=AFTERNOON)
    with pytest.raises(recalls.NoticeAlreadyQueued, match="already queued today"):
        recalls.send_recall_notice(desk, recall_id, now=AFTERNOON + timedelta(hours=2))
    recalls.send_recall_notice(desk, recall_id, now=AFTERNOON + timedelta(days=7))
    assert [m.dedupe_key.rsplit(":", 1)[1] for m in outbox_rows(desk)] == ["2031-06-16", "2031-06-23"]
    assert len(events(desk, "recall.notice_queued")) == 2


def test_an_email_patient_gets_the_notice_by_email(admin, desk, hyg_recall):
    bea = add_patient(admin, "Bea", "Email", email="bea@example.com", consent_email=True, preferred_contact="email")
    recalls.send_recall_notice(desk, add_recall(admin, bea, hyg_recall, TODAY), now=AFTERNOON)
    [m] = outbox_rows(desk)
    assert (m.channel, m.recipient) == ("email", "bea@example.com")


def test_a_notice_sent_late_in_the_evening_waits_for_the_morning(desk, hyg_recall, ada):
    recall_id = add_recall(desk, ada, hyg_recall, TODAY)
    # 22:30 in New York: quiet hours until 08:00, even for a notice sent by hand
    recalls.send_recall_notice(desk, recall_id, now=datetime(2031, 6, 17, 2, 30, tzinfo=UTC))
    [m] = outbox_rows(desk)
    assert m.next_attempt_at == datetime(2031, 6, 17, 12, 0, tzinfo=UTC)
    assert m.dedupe_key.endswith(":manual:2031-06-16")


def test_a_patient_without_consent_to_messages_is_refused_with_a_clear_message(admin, desk, hyg_recall):
    cal = add_patient(admin, "Cal", "Phone", home_phone="(212) 555-0100", mobile_phone="(212) 555-0199")
    recall_id = add_recall(admin, cal, hyg_recall, TODAY)
    with pytest.raises(recalls.NoMessageConsent, match=r"^No consent to SMS or email: call the patient instead\.$"):
        recalls.send_recall_notice(desk, recall_id, now=AFTERNOON)
    assert outbox_rows(desk) == []
    assert [r.state for r in recalls.recall_list(desk, today=TODAY)] == ["due"]
    assert events(desk, "recall.notice_queued") == []


def test_sending_for_a_missing_recall_is_refused(desk):
    with pytest.raises(recalls.RecallNotFound):
        recalls.send_recall_notice(desk, "no-such-recall", now=AFTERNOON)


def test_a_hygienist_may_not_send_recall_notices(staff, hyg_recall, ada):
    recall_id = add_recall(staff[A], ada, hyg_recall, TODAY)
    with pytest.raises(PermissionDenied, match="appointments:write"):
        recalls.send_recall_notice(staff[H], recall_id, now=AFTERNOON)
    assert outbox_rows(staff[A]) == []


def test_the_reminder_scan_does_not_chase_a_recall_the_desk_already_sent(admin, desk, hyg_recall, ada):
    with admin.uow() as uow:
        uow.session.add(ReminderRule(kind="recall", offset_minutes=14 * 1440, template_key="recall_due"))
        uow.commit()
    recall_id = add_recall(desk, ada, hyg_recall, TODAY + timedelta(days=5))
    recalls.send_recall_notice(desk, recall_id, now=AFTERNOON)
    assert reminders.scan(desk.runtime, now=AFTERNOON + timedelta(hours=1)).queued == 0
    assert len(outbox_rows(desk)) == 1
