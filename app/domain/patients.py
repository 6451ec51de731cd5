"""Patient demographics: the rules a record must meet before it is saved."""

from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

from app.domain.dates import parse_date
from app.domain.errors import FieldError, ValidationError
from app.domain.phones import normalise_phone

EARLIEST_BIRTH = date(1900, 1, 1)
MAX_NAME = 100


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    INTERSEX = "intersex"
    UNKNOWN = "unknown"


class ContactChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    PHONE = "phone"
    POST = "post"
    NONE = "none"


class AlertKind(StrEnum):
    ALLERGY = "allergy"
    CONDITION = "condition"
    MEDICATION = "medication"


class Relationship(StrEnum):
    SELF = "self"
    SPOUSE = "spouse"
    CHILD = "child"
    OTHER = "other"


@dataclass(frozen=True)
class InsuranceInput:
    carrier: str
    member_id: str
    plan_name: str = ""
    subscriber_name: str = ""
    relationship: str = Relationship.SELF
    priority: int = 1


@dataclass(frozen=True)
class AlertInput:
    kind: str
    description: str
    severe: bool = False


@dataclass(frozen=True)
class PatientInput:
    """What a person typed into the patient form, before any checking."""

    first_name: str
    last_name: str
    date_of_birth: str
    preferred_name: str = ""
    middle_name: str = ""
    sex: str = Sex.UNKNOWN
    gender_identity: str = ""
    mobile_phone: str = ""
    home_phone: str = ""
    work_phone: str = ""
    email: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    preferred_contact: str = ContactChannel.PHONE
    consent_sms: bool = False
    consent_email: bool = False
    guarantor_id: str | None = None
    chart_no: str = ""
    notes: str = ""
    insurance: tuple[InsuranceInput, ...] = ()
    alerts: tuple[AlertInput, ...] = ()


@dataclass(frozen=True)
class CleanPatient:
    """A patient record that passed every rule: dates parsed, phones in E.164."""

    first_name: str
    last_name: str
    date_of_birth: date
    preferred_name: str
    middle_name: str
    sex: Sex
    gender_identity: str
    mobile_phone: str
    home_phone: str
    work_phone: str
    email: str
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str
    preferred_contact: ContactChannel
    consent_sms: bool
    consent_email: bool
    guarantor_id: str | None
    chart_no: str
    notes: str
    insurance: tuple[InsuranceInput, ...] = field(default=())
    alerts: tuple[AlertInput, ...] = field(default=())


def _name(value: str, field_name: str, label: str, errors: list[FieldError], required: bool) -> str:
    value = " ".join(value.split())
    if required and not value:
        errors.append(FieldError(field_name, f"{label} is required."))
    elif len(value) > MAX_NAME:
        errors.append(FieldError(field_name, f"{label} is longer than {MAX_NAME} characters."))
    return value


def validate_patient(data: PatientInput, *, today: date, phone_region: str, date_order: str) -> CleanPatient:
    """Check every rule and return the cleaned record, or raise ValidationError listing all faults."""
    errors: list[FieldError] = []
    first = _name(data.first_name, "first_name", "First name", errors, True)
    last = _name(data.last_name, "last_name", "Last name", errors, True)
    preferred = _name(data.preferred_name, "preferred_name", "Preferred name", errors, False)
    middle = _name(data.middle_name, "middle_name", "Middle name", errors, False)

    dob = EARLIEST_BIRTH
    try:
        dob = parse_date(data.date_of_birth, date_order, field="date_of_birth", label="Date of birth")
        if dob > today:
            errors.append(FieldError("date_of_birth", "Date of birth is in the future."))
        elif dob < EARLIEST_BIRTH:
            errors.append(
                FieldError("date_of_birth", f"Date of birth {dob.isoformat()} is before 1900; check the year.")
            )
    except FieldError as e:
        errors.append(e)

    phones = {}
    for key, label in (
        ("mobile_phone", "Mobile"),
        ("home_phone", "Home phone"),
        ("work_phone", "Work phone"),
    ):
        try:
            phones[key] = normalise_phone(getattr(data, key), phone_region, field=key, label=label)
        except FieldError as e:
            errors.append(e)
            phones[key] = ""

    email = data.email.strip()
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            errors.append(FieldError("email", f"Email: '{email}' is not an email address."))

    try:
        sex = Sex(data.sex)
    except ValueError:
        errors.append(FieldError("sex", f"Sex: '{data.sex}' is not one of {', '.join(Sex)}."))
        sex = Sex.UNKNOWN
    try:
        channel = ContactChannel(data.preferred_contact)
    except ValueError:
        errors.append(FieldError("preferred_contact", "Preferred contact is not a known channel."))
        channel = ContactChannel.NONE

    if channel is ContactChannel.SMS and not (data.mobile_phone.strip() and data.consent_sms):
        errors.append(
            FieldError("preferred_contact", "Preferred contact is SMS: it needs a mobile number and SMS consent.")
        )
    if channel is ContactChannel.EMAIL and not (email and data.consent_email):
        errors.append(
            FieldError(
                "preferred_contact",
                "Preferred contact is email: it needs an email address and email consent.",
            )
        )
    if data.consent_sms and not data.mobile_phone.strip():
        errors.append(FieldError("consent_sms", "SMS consent needs a mobile number."))
    if data.consent_email and not email:
        errors.append(FieldError("consent_email", "Email consent needs an email address."))

    insurance = []
    for n, plan in enumerate(data.insurance, start=1):
        carrier, member = plan.carrier.strip(), plan.member_id.strip()
        if not carrier or not member:
            errors.append(FieldError("insurance", f"Insurance {n}: carrier and member id are both required."))
        try:
            relationship = Relationship(plan.relationship)
        except ValueError:
            errors.append(FieldError("insurance", f"Insurance {n}: unknown subscriber relationship."))
            relationship = Relationship.OTHER
        insurance.append(
            replace(
                plan,
                carrier=carrier,
                member_id=member,
                plan_name=plan.plan_name.strip(),
                subscriber_name=plan.subscriber_name.strip(),
                relationship=relationship,
                priority=n,
            )
        )

    alerts = []
    for n, alert in enumerate(data.alerts, start=1):
        description = " ".join(alert.description.split())
        if not description:
            errors.append(FieldError("alerts", f"Medical alert {n}: describe it (e.g. 'Penicillin')."))
        try:
            kind = AlertKind(alert.kind)
        except ValueError:
            errors.append(FieldError("alerts", f"Medical alert {n}: unknown kind '{alert.kind}'."))
            kind = AlertKind.CONDITION
        alerts.append(replace(alert, kind=kind, description=description))

    if errors:
        raise ValidationError(errors)
    return CleanPatient(
        first_name=first,
        last_name=last,
        date_of_birth=dob,
        preferred_name=preferred,
        middle_name=middle,
        sex=sex,
        gender_identity=data.gender_identity.strip(),
        email=email,
        address_line1=data.address_line1.strip(),
        address_line2=data.address_line2.strip(),
        city=data.city.strip(),
        region=data.region.strip(),
        postal_code=data.postal_code.strip().upper(),
        country=data.country.strip(),
        preferred_contact=channel,
        consent_sms=data.consent_sms,
        consent_email=data.consent_email,
        guarantor_id=data.guarantor_id or None,
        chart_no=data.chart_no.strip(),
        notes=data.notes.strip(),
        insurance=tuple(insurance),
        alerts=tuple(alerts),
        **phones,
    )
