"""Every rule of the patient form points at the right field with a message a receptionist understands."""

from dataclasses import replace
from datetime import date

import pytest

from app.domain.errors import ValidationError
from app.domain.patients import (
    AlertInput,
    AlertKind,
    ContactChannel,
    InsuranceInput,
    PatientInput,
    Relationship,
    Sex,
    validate_patient,
)

TODAY = date(2024, 6, 15)
VALID = PatientInput(first_name="Maria", last_name="Garcia", date_of_birth="1985-03-14")


def check(data: PatientInput, *, region: str = "US", order: str = "MDY"):
    return validate_patient(data, today=TODAY, phone_region=region, date_order=order)


def faults(data: PatientInput, **kw) -> dict[str, str]:
    with pytest.raises(ValidationError) as e:
        check(data, **kw)
    return e.value.messages()


def test_a_minimal_valid_patient_passes():
    clean = check(VALID)
    assert clean.first_name == "Maria"
    assert clean.date_of_birth == date(1985, 3, 14)
    assert clean.sex is Sex.UNKNOWN
    assert clean.preferred_contact is ContactChannel.PHONE


def test_first_and_last_names_are_required():
    msgs = faults(replace(VALID, first_name="  ", last_name=""))
    assert msgs["first_name"] == "First name is required."
    assert msgs["last_name"] == "Last name is required."


def test_a_name_longer_than_100_characters_is_refused():
    msgs = faults(replace(VALID, middle_name="x" * 101))
    assert msgs == {"middle_name": "Middle name is longer than 100 characters."}


def test_a_missing_date_of_birth_is_required():
    assert faults(replace(VALID, date_of_birth=""))["date_of_birth"] == "Date of birth is required."


def test_a_date_of_birth_in_the_future_is_refused():
    msgs = faults(replace(VALID, date_of_birth="2024-06-16"))
    assert msgs == {"date_of_birth": "Date of birth is in the future."}


def test_a_birth_today_is_accepted():
    assert check(replace(VALID, date_of_birth="2024-06-15")).date_of_birth == TODAY


def test_a_date_of_birth_before_1900_asks_to_check_the_year():
    msgs = faults(replace(VALID, date_of_birth="1899-12-31"))
    assert "before 1900" in msgs["date_of_birth"]
    assert "check the year" in msgs["date_of_birth"]


def test_an_impossible_date_of_birth_names_the_day_that_does_not_exist():
    msgs = faults(replace(VALID, date_of_birth="31/04/1990"), order="DMY")
    assert msgs["date_of_birth"].startswith("Date of birth:")
    assert "31 April 1990" in msgs["date_of_birth"]


def test_the_date_of_birth_is_read_in_the_clinic_order():
    assert check(replace(VALID, date_of_birth="03/04/1990"), order="DMY").date_of_birth == date(1990, 4, 3)
    assert check(replace(VALID, date_of_birth="03/04/1990"), order="MDY").date_of_birth == date(1990, 3, 4)


@pytest.mark.parametrize(
    ("field", "label"), [("mobile_phone", "Mobile"), ("home_phone", "Home phone"), ("work_phone", "Work phone")]
)
def test_a_bad_phone_number_is_reported_on_its_own_field(field, label):
    msgs = faults(replace(VALID, **{field: "12"}))
    assert list(msgs) == [field]
    assert msgs[field].startswith(f"{label}: '12'")


def test_a_bad_email_is_refused():
    msgs = faults(replace(VALID, email="maria@"))
    assert msgs == {"email": "Email: 'maria@' is not an email address."}


def test_sms_as_preferred_contact_needs_a_mobile_number():
    msgs = faults(replace(VALID, preferred_contact="sms", consent_sms=True))
    assert "mobile number" in msgs["preferred_contact"]
    assert "SMS consent needs a mobile number." == msgs["consent_sms"]


def test_sms_as_preferred_contact_needs_sms_consent():
    msgs = faults(replace(VALID, preferred_contact="sms", mobile_phone="212 555 0142"))
    assert msgs == {"preferred_contact": "Preferred contact is SMS: it needs a mobile number and SMS consent."}


def test_email_as_preferred_contact_needs_an_email_address():
    msgs = faults(replace(VALID, preferred_contact="email", consent_email=True))
    assert "email address" in msgs["preferred_contact"]
    assert msgs["consent_email"] == "Email consent needs an email address."


def test_email_as_preferred_contact_needs_email_consent():
    msgs = faults(replace(VALID, preferred_contact="email", email="maria@example.com"))
    assert msgs == {"preferred_contact": "Preferred contact is email: it needs an email address and email consent."}


def test_consent_without_a_way_to_contact_is_refused():
    msgs = faults(replace(VALID, consent_sms=True, consent_email=True))
    assert set(msgs) == {"consent_sms", "consent_email"}


def test_sms_and_email_preferences_with_consent_and_contact_pass():
    sms = check(replace(VALID, preferred_contact="sms", mobile_phone="212-555-0142", consent_sms=True))
    assert sms.preferred_contact is ContactChannel.SMS
    email = check(replace(VALID, preferred_contact="email", email="maria@example.com", consent_email=True))
    assert email.preferred_contact is ContactChannel.EMAIL


def test_an_unknown_sex_or_contact_channel_is_refused():
    msgs = faults(replace(VALID, sex="robot", preferred_contact="pigeon"))
    assert "female" in msgs["sex"]
    assert msgs["preferred_contact"] == "Preferred contact is not a known channel."


@pytest.mark.parametrize(("carrier", "member"), [("", "M123"), ("Delta Dental", " "), ("", "")])
def test_an_insurance_plan_needs_carrier_and_member_id(carrier, member):
    plans = (InsuranceInput("Aetna", "A1"), InsuranceInput(carrier, member))
    msgs = faults(replace(VALID, insurance=plans))
    assert msgs == {"insurance": "Insurance 2: carrier and member id are both required."}


def test_an_insurance_plan_with_an_unknown_relationship_is_refused():
    msgs = faults(replace(VALID, insurance=(InsuranceInput("Aetna", "A1", relationship="cousin"),)))
    assert msgs == {"insurance": "Insurance 1: unknown subscriber relationship."}


def test_a_medical_alert_without_a_description_is_refused():
    msgs = faults(replace(VALID, alerts=(AlertInput("allergy", "   "),)))
    assert msgs["alerts"].startswith("Medical alert 1: describe it")


def test_a_medical_alert_of_unknown_kind_is_refused():
    msgs = faults(replace(VALID, alerts=(AlertInput("superstition", "Black cats"),)))
    assert msgs == {"alerts": "Medical alert 1: unknown kind 'superstition'."}


def test_every_fault_is_listed_at_once():
    bad = replace(VALID, first_name="", date_of_birth="2099-01-01", email="nope", mobile_phone="x")
    with pytest.raises(ValidationError) as e:
        check(bad)
    assert set(e.value.messages()) == {"first_name", "date_of_birth", "email", "mobile_phone"}
    assert "First name is required." in str(e.value)


def test_valid_input_is_cleaned():
    clean = check(
        replace(
            VALID,
            first_name="  Mary   Ann ",
            last_name=" van  der Berg ",
            mobile_phone="(212) 555-0142",
            home_phone="+44 20 7946 0958",
            work_phone="",
            email="  maria@Example.COM ",
            postal_code=" sw1a 1aa ",
            city="  Boston ",
            chart_no=" 42 ",
            guarantor_id="",
            insurance=(InsuranceInput(" Delta Dental ", " M-123 ", relationship="spouse", priority=7),),
            alerts=(AlertInput("allergy", "  Penicillin   rash "),),
        )
    )
    assert clean.first_name == "Mary Ann"
    assert clean.last_name == "van der Berg"
    assert clean.mobile_phone == "+12125550142"
    assert clean.home_phone == "+442079460958"
    assert clean.work_phone == ""
    assert clean.email == "maria@example.com"
    assert clean.postal_code == "SW1A 1AA"
    assert clean.city == "Boston"
    assert clean.chart_no == "42"
    assert clean.guarantor_id is None
    plan = clean.insurance[0]
    assert (plan.carrier, plan.member_id, plan.relationship, plan.priority) == (
        "Delta Dental",
        "M-123",
        Relationship.SPOUSE,
        1,
    )
    assert clean.alerts[0].kind is AlertKind.ALLERGY
    assert clean.alerts[0].description == "Penicillin rash"


def test_phone_numbers_are_read_in_the_clinic_region():
    clean = check(replace(VALID, mobile_phone="07700 900123"), region="GB")
    assert clean.mobile_phone == "+447700900123"
