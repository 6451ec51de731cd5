"""Cancelling or moving a booked visit tells the patient at once, through the high-priority queue."""

from sqlalchemy import select

from app.db.models import OutboxMessage
from app.domain.permissions import Role
from app.domain.scheduling import VisitStatus
from app.services import scheduling
from tests.integration.scheduling_fixtures import FUTURE_MONDAY, add_patient, make_book


def queued(runtime) -> list[OutboxMessage]:
    with runtime.sessions() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))


def test_a_cancellation_queues_one_high_priority_notice_without_clinical_detail(runtime, staff):
    book = make_book(staff[Role.ADMINISTRATOR])
    desk = staff[Role.RECEPTIONIST]
    patient = add_patient(desk, "Rosa", "Notice", mobile_phone="2125550177", consent_sms=True, preferred_contact="sms")
    visit = scheduling.book(desk, book.request(patient, FUTURE_MONDAY, "09:00", "09:30"))
    scheduling.set_status(desk, visit.id, visit.version, VisitStatus.CANCELLED, reason="root canal pain")
    [notice] = queued(runtime)
    assert notice.queue == "high" and notice.channel == "sms" and notice.recipient == "+12125550177"
    assert "Rosa" in notice.body and "root canal" not in notice.body


def test_moving_a_booked_visit_queues_a_new_time_notice_but_booking_does_not(runtime, staff):
    book = make_book(staff[Role.ADMINISTRATOR])
    desk = staff[Role.RECEPTIONIST]
    patient = add_patient(desk, "Ali", "Notice", email="ali@example.org", consent_email=True, preferred_contact="email")
    visit = scheduling.book(desk, book.request(patient, FUTURE_MONDAY, "09:00", "09:30"))
    assert queued(runtime) == []
    scheduling.move(desk, visit.id, visit.version, book.at(FUTURE_MONDAY, "10:00"), book.at(FUTURE_MONDAY, "10:30"))
    [notice] = queued(runtime)
    assert notice.queue == "high" and notice.channel == "email" and "Ali" in notice.body


def test_a_patient_without_consent_gets_no_notice(runtime, staff):
    book = make_book(staff[Role.ADMINISTRATOR])
    desk = staff[Role.RECEPTIONIST]
    patient = add_patient(desk, "Quiet", "Notice", mobile_phone="2125550178")
    visit = scheduling.book(desk, book.request(patient, FUTURE_MONDAY, "09:00", "09:30"))
    scheduling.set_status(desk, visit.id, visit.version, VisitStatus.CANCELLED, reason="ill")
    assert queued(runtime) == []


def test_a_confirmed_visit_put_on_the_pinboard_keeps_its_confirmation_in_the_history(runtime, staff):
    book = make_book(staff[Role.ADMINISTRATOR])
    desk = staff[Role.RECEPTIONIST]
    patient = add_patient(desk, "Pia", "Board")
    visit = scheduling.book(desk, book.request(patient, FUTURE_MONDAY, "09:00", "09:30"))
    visit = scheduling.set_status(desk, visit.id, visit.version, VisitStatus.CONFIRMED)
    scheduling.to_pinboard(desk, visit.id, visit.version)
    steps = [(f, t, reason) for f, t, _when, _who, reason in scheduling.status_history(desk, visit.id)]
    assert steps == [("scheduled", "confirmed", ""), ("confirmed", "scheduled", "moved to the pinboard")]
