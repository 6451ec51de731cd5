"""Reminders end to end: a real SMTP server (aiosmtpd, STARTTLS + AUTH) and a real local HTTP SMS gateway."""

import datetime as dt
import email
import email.policy
import ipaddress
import json
import shutil
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import keyring
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import inspect, select, text

from app import bootstrap
from app.db.models import (
    Appointment,
    AppointmentType,
    AuditEvent,
    Location,
    OutboxMessage,
    PatientRecall,
    RecallType,
    ReminderRule,
)
from app.domain.patients import PatientInput
from app.domain.permissions import Role
from app.services import auth, backup_schedule, patients, reminders, users
from app.services.background import JOB_TABLE, Intervals, start_background
from app.services.context import Ctx, UnitOfWork
from app.services.messaging import outbox
from app.services.messaging.outbox import Backoff, OutboxWorker
from app.services.messaging.transports import EmailTransport, Envelope, SmsGatewayTransport
from app.services.runtime import ClinicRuntime
from tests.conftest import ADMIN_PASSWORD, PASSPHRASE, STAFF_PASSWORD, MemoryKeyring

TZ = "America/New_York"
NOW = datetime(2030, 3, 12, 16, 0, tzinfo=UTC)  # noon in New York, outside quiet hours
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-secret"
SMS_TOKEN = "gateway-token"
# the clinical detail a reminder must never carry
SECRET_TYPE, SECRET_NOTE = "Root canal therapy", "extraction of 36 under sedation"
FAST = Backoff(base=timedelta(seconds=10), cap=timedelta(minutes=5), jitter=0.0)


# --- a real SMTP server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, so STARTTLS is real and verified."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Mailbox:
    """What the SMTP server accepted; it answers 451 to the next `fail_next` messages."""

    messages: list[EmailMessage] = field(default_factory=list)
    fail_next: int = 0
    refused: int = 0
    on_message: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.refused += 1
                return "451 4.3.0 try later"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            count = len(self.messages)
        if self.on_message is not None:
            self.on_message(count)
        return "250 OK"

    @property
    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


class _PortZeroController(Controller):
    """aiosmtpd's controller, listening on a port the OS picks (its own check assumes a fixed port)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@pytest.fixture
def mailbox(tls_cert: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(*tls_cert)
    controller = _PortZeroController(
        box,
        hostname="127.0.0.1",
        port=0,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=_authenticator,
    )
    controller.start()
    yield box, controller.port
    controller.stop()


# --- a real SMS gateway -------------------------------------------------------------------


@dataclass
class Gateway:
    """A local SMS gateway: records every POST, drops repeats of an idempotency key like a real one."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: int = 0
    fail_status: int = 500
    on_post: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""


class _GatewayHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
        gateway: Gateway = self.server.gateway  # type: ignore[attr-defined]
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with gateway.lock:
            gateway.posts.append({"auth": self.headers.get("Authorization"), **payload})
            if self.headers.get("Authorization") != f"Bearer {SMS_TOKEN}":
                status = 401
            elif gateway.fail_next > 0:
                gateway.fail_next -= 1
                status = gateway.fail_status
            else:
                gateway.delivered.setdefault(payload["idempotency_key"], payload)
                status = 200
            count = len(gateway.posts)
        if gateway.on_post is not None:
            gateway.on_post(count)
        body = json.dumps({"status": "queued" if status == 200 else "error"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass  # keep test output quiet


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GatewayHandler)
    server.gateway = gw  # type: ignore[attr-defined]
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/v1/messages"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield gw
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def transports(mailbox: tuple[Mailbox, int], gateway: Gateway, tls_cert: tuple[Path, Path], memory_keyring: Any):
    """Email and SMS transports pointed at the local servers; the SMTP password is in the keyring."""
    memory_keyring.set_password("chairside-smtp", SMTP_USER, SMTP_PASSWORD)
    _, port = mailbox
    client_tls = ssl.create_default_context(cafile=str(tls_cert[0]))
    sms = SmsGatewayTransport(gateway.url, token=SMS_TOKEN)
    yield {
        "email": EmailTransport(
            "127.0.0.1", port, from_address="reminders@testdental.example", username=SMTP_USER, ssl_context=client_tls
        ),
        "sms": sms,
    }
    sms.close()


# --- the clinic ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clinic_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One new clinic for the module, made as conftest makes it; creating one (migrations) costs half a second."""
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())  # never the machine's real keyring
    try:
        folder = tmp_path_factory.mktemp("template") / "clinic"
        bootstrap.create_clinic(
            folder, clinic_name="Test Dental", passphrase=PASSPHRASE, admin_password=ADMIN_PASSWORD
        ).close()
    finally:
        keyring.set_keyring(previous)
    return folder


@pytest.fixture
def runtime(clinic_template: Path, clinic_dir: Path) -> Iterator[ClinicRuntime]:
    """conftest's `runtime` (a new, empty clinic with one administrator), copied from the module's template."""
    shutil.copytree(clinic_template, clinic_dir)
    rt = bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    yield rt
    rt.close()


class Clock:
    """A clock the test moves by hand, so backoff is checked without waiting for it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Book:
    runtime: ClinicRuntime
    front_desk: Ctx
    provider_id: str
    location_id: str
    type_id: str

    def patient(self, first: str, last: str, **fields: Any) -> str:
        return patients.register(self.front_desk, PatientInput(first, last, "12/10/1985", **fields)).id

    def visit(self, patient_id: str, starts_at: datetime, *, minutes: int = 60, status: str = "scheduled") -> str:
        # appointments go in directly: the scheduling service is tested on its own
        with UnitOfWork(self.runtime, None, write=True) as uow:
            appt = Appointment(
                patient_id=patient_id,
                provider_id=self.provider_id,
                location_id=self.location_id,
                appointment_type_id=self.type_id,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=minutes),
                time_zone=TZ,
                status=status,
                note=SECRET_NOTE,
            )
            uow.session.add(appt)
            uow.commit()
            return appt.id


@pytest.fixture
def admin(runtime: ClinicRuntime) -> Ctx:
    # only the administrator: the `staff` fixture's four accounts would cost a second of hashing per test
    return Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))


@pytest.fixture
def book(runtime: ClinicRuntime, admin: Ctx) -> Book:
    """A location, a dentist, the clinic's rules (48 h and 2 h reminders, recall notices 14 days ahead)."""
    provider = users.add_staff(admin, users.NewStaff("drsmile", "Dr Smile, Endodontist", Role.DENTIST, STAFF_PASSWORD))
    with UnitOfWork(runtime, None, write=True) as uow:
        location = Location(name="Main Street", time_zone=TZ, phone="(212) 555-0100")
        kind = AppointmentType(name=SECRET_TYPE, default_minutes=60, colour="#aa0000")
        uow.session.add_all(
            [
                location,
                kind,
                ReminderRule(kind="appointment", offset_minutes=2880, template_key="appointment_reminder"),
                ReminderRule(kind="appointment", offset_minutes=120, template_key="appointment_reminder"),
                ReminderRule(kind="recall", offset_minutes=14 * 1440, template_key="recall_due"),
            ]
        )
        uow.commit()
        return Book(runtime, admin, provider.id, location.id, kind.id)


def email_patient(book: Book, first: str = "Ada", **extra: Any) -> str:
    fields: dict[str, Any] = {
        "preferred_name": "Addie",
        "email": f"{first.lower()}@example.com",
        "preferred_contact": "email",
        "consent_email": True,
    }
    return book.patient(first, "Lovelace", **(fields | extra))


def sms_patient(book: Book) -> str:
    return book.patient("Grace", "Hopper", mobile_phone="(212) 555-0142", preferred_contact="sms", consent_sms=True)


def rows(runtime: ClinicRuntime) -> list[OutboxMessage]:
    with runtime.sessions() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)))


def worker(runtime: ClinicRuntime, transports: Any, clock: Clock, **kwargs: Any) -> OutboxWorker:
    return OutboxWorker(runtime, transports, backoff=FAST, clock=clock, **kwargs)


# --- delivery -----------------------------------------------------------------------------


def test_a_reminder_is_emailed_once_over_starttls_with_no_clinical_detail(runtime, book, transports, mailbox):
    box, _ = mailbox
    patient = email_patient(book)
    book.visit(patient, NOW + timedelta(hours=24))

    assert reminders.scan(runtime, now=NOW).queued == 1
    clock = Clock(NOW)
    assert worker(runtime, transports, clock).drain() == 1
    assert worker(runtime, transports, clock).drain() == 0

    [message] = box.messages
    [row] = rows(runtime)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, NOW)
    assert message["To"] == "ada@example.com"
    assert message["Message-ID"] == f"<{row.id}@testdental.example>"
    text_ = message.get_content()
    assert "Addie" in text_ and "Test Dental" in text_
    assert "Wednesday, March 13 at 12:00 PM" in text_  # the location's wall clock, not UTC
    assert "(212) 555-0100" in text_
    for secret in (SECRET_TYPE, "Root canal", SECRET_NOTE, "extraction", "Endodontist", "Lovelace"):
        assert secret not in text_ and secret not in str(message["Subject"])


def test_an_sms_reminder_goes_once_through_the_gateway_with_its_idempotency_key(runtime, book, transports, gateway):
    patient = sms_patient(book)
    book.visit(patient, NOW + timedelta(hours=30))

    reminders.scan(runtime, now=NOW)
    worker(runtime, transports, Clock(NOW)).drain()

    [row] = rows(runtime)
    [post] = gateway.posts
    assert row.status == "sent"
    assert post["to"] == "+12125550142"
    assert post["idempotency_key"] == row.id
    assert post["auth"] == f"Bearer {SMS_TOKEN}"
    assert "Grace" in post["body"] and SECRET_TYPE not in post["body"] and SECRET_NOTE not in post["body"]
    assert len(post["body"]) <= 160


def test_running_the_scan_twice_queues_one_message_and_the_2_hour_rule_adds_one_more(runtime, book):
    patient = email_patient(book)
    starts = NOW + timedelta(hours=30)  # 18:00 local: its 2 h reminder falls outside quiet hours
    book.visit(patient, starts)

    first = reminders.scan(runtime, now=NOW)
    second = reminders.scan(runtime, now=NOW)
    later = reminders.scan(runtime, now=NOW + timedelta(minutes=5))
    assert (first.queued, second.queued, second.already_queued, later.queued) == (1, 0, 1, 0)
    assert len(rows(runtime)) == 1

    reminders.scan(runtime, now=starts - timedelta(minutes=90))
    reminders.scan(runtime, now=starts - timedelta(minutes=85))
    assert len(rows(runtime)) == 2


def test_a_visit_booked_an_hour_ahead_gets_only_the_nearest_reminder(runtime, book):
    book.visit(email_patient(book), NOW + timedelta(hours=1))
    assert reminders.scan(runtime, now=NOW).queued == 1
    [row] = rows(runtime)
    _, _, rule_id, _ = row.dedupe_key.split(":", 3)
    with runtime.sessions() as s:
        assert s.get(ReminderRule, rule_id).offset_minutes == 120


def test_a_failing_smtp_server_is_retried_with_growing_backoff_and_the_reminder_arrives_once(
    runtime, book, transports, mailbox
):
    box, _ = mailbox
    box.fail_next = 2
    book.visit(email_patient(book), NOW + timedelta(hours=24))
    reminders.scan(runtime, now=NOW)
    clock = Clock(NOW)
    sender = worker(runtime, transports, clock)

    assert sender.drain() == 1
    [row] = rows(runtime)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error
    first_wait = row.next_attempt_at - clock.now
    assert sender.drain() == 0  # not due yet: no hammering a struggling server

    clock.now = row.next_attempt_at
    assert sender.drain() == 1
    [row] = rows(runtime)
    assert (row.status, row.attempts) == ("pending", 2)
    second_wait = row.next_attempt_at - clock.now
    assert second_wait == 2 * first_wait == timedelta(seconds=20)

    clock.now = row.next_attempt_at
    assert sender.drain() == 1
    [row] = rows(runtime)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
    assert box.refused == 2
    assert len(box.messages) == 1


def test_the_backoff_doubles_from_30_seconds_up_to_an_hour():
    backoff = Backoff(jitter=0.0)
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]
    jittered = outbox.DEFAULT_BACKOFF.delay(1).total_seconds()
    assert 30 <= jittered <= 33


def test_a_gateway_refusal_fails_at_once_is_listed_and_can_be_retried(runtime, book, transports, gateway, admin):
    gateway.fail_next, gateway.fail_status = 1, 422
    patient = sms_patient(book)
    book.visit(patient, NOW + timedelta(hours=24))
    reminders.scan(runtime, now=NOW)
    clock = Clock(NOW)

    worker(runtime, transports, clock).drain()
    [row] = rows(runtime)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "422" in row.last_error

    front = admin
    [failed] = outbox.failed_messages(front)
    assert (failed.id, failed.patient_name, failed.status) == (row.id, "Grace Hopper", "failed")

    outbox.retry_message(front, row.id)
    worker(runtime, transports, clock).drain()
    assert rows(runtime)[0].status == "sent"
    assert outbox.failed_messages(front) == []
    assert len(gateway.delivered) == 1


def test_a_message_is_marked_failed_after_the_maximum_attempts(runtime, book, transports, gateway):
    gateway.fail_next = 100  # the gateway is down for good
    book.visit(sms_patient(book), NOW + timedelta(hours=24))
    reminders.scan(runtime, now=NOW)
    clock = Clock(NOW)
    sender = worker(runtime, transports, clock)

    for _ in range(outbox.MAX_ATTEMPTS + 2):
        sender.drain()
        clock.advance(hours=1)

    [row] = rows(runtime)
    assert (row.status, row.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert "500" in row.last_error
    assert len(gateway.posts) == outbox.MAX_ATTEMPTS


# --- crashes and restarts -----------------------------------------------------------------


def test_a_crash_between_sending_and_recording_resends_with_the_same_message_id(
    runtime, book, transports, mailbox, clinic_dir
):
    box, _ = mailbox
    book.visit(email_patient(book), NOW + timedelta(hours=24))
    reminders.scan(runtime, now=NOW)

    # the worker claims and sends, then the power goes before "sent" is committed
    lease = timedelta(minutes=1)
    claimed = outbox.claim_next(runtime, outbox.STANDARD, NOW, lease)
    assert claimed is not None
    transports["email"].send(Envelope(claimed.id, claimed.recipient, claimed.subject, claimed.body))
    runtime.close()

    restarted = bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    try:
        clock = Clock(NOW + timedelta(seconds=30))
        assert reminders.scan(restarted, now=clock.now).queued == 0  # the dedupe key holds across restarts
        assert worker(restarted, transports, clock, lease=lease).drain() == 0  # its claim still stands
        clock.advance(seconds=31)
        assert worker(restarted, transports, clock, lease=lease).drain() == 1
        [row] = rows(restarted)
        assert (row.status, row.attempts) == ("sent", 2)
    finally:
        restarted.close()

    again = bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    try:
        clock.advance(minutes=10)
        reminders.scan(again, now=clock.now)
        assert worker(again, transports, clock).drain() == 0
        assert [r.status for r in rows(again)] == ["sent"]
    finally:
        again.close()

    # the server saw the re-send, and can tell it is the same message
    assert len(box.messages) == 2
    assert len(set(box.message_ids)) == 1


def test_a_crash_after_claiming_but_before_sending_still_sends_exactly_once(
    runtime, book, transports, mailbox, clinic_dir
):
    box, _ = mailbox
    book.visit(email_patient(book), NOW + timedelta(hours=24))
    reminders.scan(runtime, now=NOW)
    assert outbox.claim_next(runtime, outbox.STANDARD, NOW, timedelta(minutes=1)) is not None
    runtime.close()

    restarted = bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    try:
        clock = Clock(NOW + timedelta(minutes=2))
        assert worker(restarted, transports, clock).drain() == 1
        assert worker(restarted, transports, clock).drain() == 0
    finally:
        restarted.close()
    assert len(box.messages) == 1


def test_an_sms_is_never_sent_twice_across_a_restart(runtime, book, transports, gateway, clinic_dir):
    book.visit(sms_patient(book), NOW + timedelta(hours=24))
    reminders.scan(runtime, now=NOW)
    worker(runtime, transports, Clock(NOW)).drain()
    runtime.close()

    restarted = bootstrap.open_clinic(clinic_dir, lambda: PASSPHRASE)
    try:
        later = NOW + timedelta(hours=1)
        reminders.scan(restarted, now=later)
        worker(restarted, transports, Clock(later)).drain()
    finally:
        restarted.close()
    assert len(gateway.posts) == 1


# --- priority -----------------------------------------------------------------------------


def test_the_high_queue_overtakes_a_long_standard_batch(runtime, book, transports, gateway):
    patient = sms_patient(book)
    visit_id = book.visit(patient, NOW + timedelta(days=3))
    with UnitOfWork(runtime, None, write=True) as uow:
        for i in range(200):
            outbox.enqueue(
                uow.session,
                queue=outbox.STANDARD,
                dedupe_key=f"bulk:{i}",
                patient_id=None,
                channel="sms",
                recipient=f"+1212555{i:04d}",
                body=f"Message {i}",
                subject="",
                not_before=NOW,
            )
        uow.commit()

    batch_under_way = threading.Event()
    gateway.on_post = lambda count: batch_under_way.set() if count == 10 else None
    sender = worker(runtime, transports, Clock(NOW))
    drained: list[int] = []
    thread = threading.Thread(target=lambda: drained.append(sender.drain()))
    thread.start()
    assert batch_under_way.wait(10)

    with UnitOfWork(runtime, None, write=True) as uow:
        appt = uow.session.get(Appointment, visit_id)
        assert appt is not None
        appt.status = "cancelled"
        high_id = reminders.notify_cancellation(uow.session, appt, clinic=runtime.info, now=NOW)
        uow.commit()
    thread.join(30)

    assert high_id is not None
    assert drained == [201]
    keys = [post["idempotency_key"] for post in gateway.posts]
    position = keys.index(high_id)
    # it waited for the message in flight, not for the 190 still queued
    assert position < 20 < len(keys) == 201
    assert "cancelled" in gateway.posts[position]["body"] and "Grace" in gateway.posts[position]["body"]


# --- who gets what, and when --------------------------------------------------------------


def test_patients_without_consent_or_a_written_channel_get_nothing(runtime, book, transports, mailbox, gateway):
    box, _ = mailbox
    unconsented = email_patient(book, "Emmy")
    no_mobile = sms_patient(book)
    with UnitOfWork(runtime, None, write=True) as uow:
        # the form refuses these; a record synced from elsewhere or edited later may still hold them
        uow.session.execute(text("UPDATE patient SET consent_email = 0 WHERE id = :id"), {"id": unconsented})
        uow.session.execute(text("UPDATE patient SET mobile_phone = '' WHERE id = :id"), {"id": no_mobile})
        uow.commit()
    phone_only = book.patient(
        "Alan",
        "Turing",
        email="alan@example.com",
        mobile_phone="(212) 555-0177",
        consent_email=True,
        consent_sms=True,
        preferred_contact="phone",
    )
    for hours, patient in enumerate((unconsented, no_mobile, phone_only), start=20):
        book.visit(patient, NOW + timedelta(hours=hours))

    result = reminders.scan(runtime, now=NOW)
    worker(runtime, transports, Clock(NOW)).drain()
    assert (result.queued, result.no_consent) == (0, 3)
    assert rows(runtime) == [] and box.messages == [] and gateway.posts == []


def test_cancelled_pinboard_and_past_visits_get_no_reminder(runtime, book):
    book.visit(email_patient(book, "Ada"), NOW + timedelta(hours=20), status="cancelled")
    book.visit(email_patient(book, "Bea"), NOW - timedelta(hours=2))
    pinned = book.visit(email_patient(book, "Cat"), NOW + timedelta(hours=22))
    with UnitOfWork(runtime, None, write=True) as uow:
        appt = uow.session.get(Appointment, pinned)
        assert appt is not None
        appt.on_pinboard, appt.starts_at, appt.ends_at = True, None, None
        uow.commit()
    assert reminders.scan(runtime, now=NOW).queued == 0


def test_a_reminder_due_in_quiet_hours_waits_for_eight_in_the_morning(runtime, book, transports, mailbox):
    box, _ = mailbox
    evening = datetime(2030, 3, 13, 2, 0, tzinfo=UTC)  # 22:00 in New York
    eight_am = datetime(2030, 3, 13, 12, 0, tzinfo=UTC)
    book.visit(email_patient(book, "Ada"), datetime(2030, 3, 13, 18, 0, tzinfo=UTC))  # 14:00 tomorrow
    book.visit(email_patient(book, "Bea"), datetime(2030, 3, 13, 11, 0, tzinfo=UTC))  # 07:00: quiet till then

    result = reminders.scan(runtime, now=evening)
    assert (result.queued, result.too_late) == (1, 1)
    [row] = rows(runtime)
    assert row.next_attempt_at == eight_am

    clock = Clock(evening)
    assert worker(runtime, transports, clock).drain() == 0
    clock.now = eight_am
    assert worker(runtime, transports, clock).drain() == 1
    assert len(box.messages) == 1


def test_queued_reminders_wait_out_quiet_hours_but_urgent_changes_do_not(runtime, book, transports, gateway):
    reminded = sms_patient(book)
    book.visit(reminded, NOW + timedelta(hours=30))
    reminders.scan(runtime, now=NOW)  # queued at noon, but the workstation was switched off until 06:30
    early = datetime(2030, 3, 13, 10, 30, tzinfo=UTC)  # 06:30 in New York
    with UnitOfWork(runtime, None, write=True) as uow:
        urgent = outbox.enqueue(
            uow.session,
            queue=outbox.HIGH,
            dedupe_key="cancel:test",
            patient_id=reminded,
            channel="sms",
            recipient="+12125550142",
            subject="",
            body="Your appointment today at 08:00 is cancelled.",
        )
        uow.commit()
    quiet = reminders.DEFAULT_QUIET_HOURS
    clock = Clock(early)
    sender = worker(runtime, transports, clock, hold_until=lambda t: quiet.defer(t, TZ))

    assert sender.drain() == 1
    assert [post["idempotency_key"] for post in gateway.posts] == [urgent]
    clock.now = datetime(2030, 3, 13, 12, 0, tzinfo=UTC)  # 08:00
    assert sender.drain() == 1
    assert len(gateway.posts) == 2


def test_quiet_hours_follow_the_location_clock():
    quiet = reminders.QuietHours(time(20), time(8))
    tokyo_noon = datetime(2030, 3, 12, 3, 0, tzinfo=UTC)
    assert quiet.defer(tokyo_noon, "Asia/Tokyo") == tokyo_noon
    deferred = quiet.defer(tokyo_noon, "America/New_York")  # 23:00 the evening before there
    assert deferred.astimezone(dt.timezone(timedelta(hours=-4))).time() == time(8)


def test_a_moved_visit_withdraws_its_waiting_reminder_and_gets_one_for_the_new_time(runtime, book):
    evening = datetime(2030, 3, 13, 2, 0, tzinfo=UTC)
    visit = book.visit(email_patient(book), datetime(2030, 3, 13, 18, 0, tzinfo=UTC))
    reminders.scan(runtime, now=evening)  # queued for 08:00
    with UnitOfWork(runtime, None, write=True) as uow:
        appt = uow.session.get(Appointment, visit)
        assert appt is not None
        appt.starts_at, appt.ends_at = (
            datetime(2030, 3, 13, 20, 0, tzinfo=UTC),
            datetime(2030, 3, 13, 21, 0, tzinfo=UTC),
        )
        uow.commit()

    result = reminders.scan(runtime, now=evening + timedelta(minutes=5))
    assert (result.withdrawn, result.queued) == (1, 1)
    old, new = rows(runtime)
    assert (old.status, new.status) == ("withdrawn", "pending")
    assert "4:00 PM" in new.body


def test_a_recall_notice_goes_to_patients_due_soon_who_have_not_booked(runtime, book):
    due_soon, booked, far_off = email_patient(book, "Ada"), email_patient(book, "Bea"), email_patient(book, "Cat")
    book.visit(booked, NOW + timedelta(days=9))
    with UnitOfWork(runtime, None, write=True) as uow:
        kind = RecallType(code="PERIO", name="Periodontal maintenance", interval_months=3)
        uow.session.add(kind)
        uow.session.flush()
        for patient, days in ((due_soon, 10), (booked, 10), (far_off, 60)):
            uow.session.add(
                PatientRecall(
                    patient_id=patient, recall_type_id=kind.id, due_date=dt.date(2030, 3, 12) + timedelta(days)
                )
            )
        uow.commit()

    assert reminders.scan(runtime, now=NOW).queued == 1
    assert reminders.scan(runtime, now=NOW + timedelta(hours=1)).queued == 0
    [row] = rows(runtime)
    assert row.patient_id == due_soon and row.dedupe_key.startswith("recall:")
    assert "March 22" in row.body and "Periodontal" not in row.body


# --- what staff see -----------------------------------------------------------------------


def test_each_patient_shows_their_messages_and_delivery_status(runtime, book, transports, gateway, admin):
    gateway.fail_next, gateway.fail_status = 1, 400
    patient = sms_patient(book)
    book.visit(patient, NOW + timedelta(hours=24))
    book.visit(patient, NOW + timedelta(hours=26))
    reminders.scan(runtime, now=NOW)
    worker(runtime, transports, Clock(NOW)).drain()

    views = outbox.messages_for_patient(admin, patient)
    assert sorted(v.status for v in views) == ["failed", "sent"]
    assert all(v.channel == "sms" and v.recipient == "+12125550142" for v in views)
    assert {v.attempts for v in views} == {1}
    sent = next(v for v in views if v.status == "sent")
    failed = next(v for v in views if v.status == "failed")
    assert sent.sent_at == NOW and failed.sent_at is None and "400" in failed.last_error
    assert "Grace" in sent.preview

    with runtime.sessions() as s:
        seen = s.scalars(select(AuditEvent).where(AuditEvent.action == "patient.messages_viewed")).all()
    assert [e.patient_id for e in seen] == [patient]


def test_a_template_refuses_unknown_placeholders():
    from app.services.messaging.templates import TemplateError, render

    with pytest.raises(TemplateError):
        render("appointment_reminder", first_name="A", clinic_name="C", date="d", time="t", clinic_phone="p", note="x")
    with pytest.raises(TemplateError):
        render("appointment_reminder", first_name="A")
    with pytest.raises(TemplateError):
        render("no_such_template", first_name="A")
    bad = render("recall_due", first_name="A\r\nBcc: x@example.com", clinic_name="C", date="d", clinic_phone="p")
    assert "\n" not in bad.subject and "\n" not in bad.body


# --- the scheduler ------------------------------------------------------------------------


def test_background_jobs_persist_in_the_clinic_database_and_run_on_demand(runtime, book, transports, mailbox):
    box, _ = mailbox
    book.visit(email_patient(book), datetime.now(UTC) + timedelta(hours=24))
    never_quiet = reminders.QuietHours(time(0), time(0))
    slow = Intervals(scan=timedelta(hours=1), drain=timedelta(hours=1), high=timedelta(hours=1))

    jobs = start_background(runtime, transports, intervals=slow, quiet=never_quiet, run_soon=False)
    try:
        scan, drained = jobs.run_now()
        assert scan is not None and scan.queued == 1 and drained == 1
    finally:
        jobs.stop()
    assert len(box.messages) == 1

    # a second start (the next day, say) replaces the stored jobs rather than tripping over them
    jobs = start_background(runtime, transports, intervals=slow, quiet=never_quiet, run_soon=False)
    jobs.stop()
    with runtime.engine.connect() as conn:
        assert inspect(conn).has_table(JOB_TABLE)
        stored = conn.execute(text(f"SELECT id FROM {JOB_TABLE} ORDER BY id")).scalars().all()
    assert stored == ["nightly-backup", "outbox-drain", "outbox-high", "reminder-scan"]


def test_a_workstation_without_messaging_runs_only_the_nightly_backup_and_drops_stored_reminder_jobs(
    runtime, transports
) -> None:
    jobs = start_background(runtime, transports, run_soon=False)  # once a sending workstation
    jobs.stop()

    jobs = start_background(runtime, {}, run_soon=False, nightly_backup=True)
    try:
        assert [job.id for job in jobs.scheduler.get_jobs()] == [backup_schedule.JOB_ID]
    finally:
        jobs.stop()
    jobs = start_background(runtime, transports, run_soon=False, nightly_backup=False)
    try:
        assert backup_schedule.JOB_ID not in {job.id for job in jobs.scheduler.get_jobs()}
    finally:
        jobs.stop()


def test_the_scheduler_drains_the_outbox_on_its_own(runtime, transports, gateway):
    with UnitOfWork(runtime, None, write=True) as uow:
        outbox.enqueue(
            uow.session,
            queue=outbox.STANDARD,
            dedupe_key="scheduled:1",
            patient_id=None,
            channel="sms",
            recipient="+12125550142",
            subject="",
            body="Hello",
        )
        uow.commit()
    never_quiet = reminders.QuietHours(time(0), time(0))
    quick = Intervals(scan=timedelta(hours=1), drain=timedelta(seconds=0.1), high=timedelta(hours=1))
    delivered = threading.Event()
    gateway.on_post = lambda count: delivered.set()

    jobs = start_background(runtime, transports, intervals=quick, quiet=never_quiet, run_soon=False)
    try:
        assert delivered.wait(10)
    finally:
        jobs.stop()
    assert [r.status for r in rows(runtime)] == ["sent"]
