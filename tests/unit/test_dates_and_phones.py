"""Dates and phone numbers as receptionists type them, with messages that say what is wrong."""

from datetime import date

import pytest

from app.domain.dates import candidate_dates, format_date, parse_date
from app.domain.errors import FieldError
from app.domain.phones import display_phone, normalise_phone, phone_digits


def test_an_iso_date_is_read_whatever_the_clinic_order():
    assert parse_date("1980-12-31", "DMY") == date(1980, 12, 31)
    assert parse_date("1980-12-31", "MDY") == date(1980, 12, 31)
    assert parse_date(" 1980/1/5 ") == date(1980, 1, 5)


def test_a_local_date_is_read_in_the_clinic_order():
    assert parse_date("03/04/2020", "DMY") == date(2020, 4, 3)
    assert parse_date("03/04/2020", "MDY") == date(2020, 3, 4)
    assert parse_date("3.4.2020", "DMY") == date(2020, 4, 3)


def test_30_february_is_refused_with_a_message_naming_the_missing_day():
    with pytest.raises(FieldError) as e:
        parse_date("2023-02-30", field="date_of_birth", label="Date of birth")
    assert e.value.field == "date_of_birth"
    assert "not a real date" in e.value.message
    assert "30 February 2023" in e.value.message


def test_31_april_is_refused_in_day_month_order():
    with pytest.raises(FieldError) as e:
        parse_date("31/04/2020", "DMY")
    assert "31 April 2020" in e.value.message


def test_the_same_text_is_a_real_date_in_month_day_order_only_if_it_exists():
    with pytest.raises(FieldError, match="has no month 31"):
        parse_date("04/31/2020", "DMY")
    with pytest.raises(FieldError, match="31 April 2020"):
        parse_date("04/31/2020", "MDY")


def test_a_thirteenth_month_is_named_in_the_message():
    with pytest.raises(FieldError, match="has no month 13"):
        parse_date("2020-13-01")


def test_29_february_exists_only_in_leap_years():
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    with pytest.raises(FieldError, match="29 February 2023"):
        parse_date("2023-02-29")


@pytest.mark.parametrize("text", ["hello", "12 March", "1980-12", "31/12/80", "2020-01-01T10:00"])
def test_text_that_is_not_a_date_gets_an_example_of_the_expected_form(text):
    with pytest.raises(FieldError) as e:
        parse_date(text, "DMY", label="Date of birth")
    assert "is not a date" in e.value.message
    assert "31/12/1980" in e.value.message and "1980-12-31" in e.value.message
    assert e.value.message.startswith("Date of birth")


def test_the_example_follows_the_clinic_order():
    with pytest.raises(FieldError, match="12/31/1980"):
        parse_date("soon", "MDY")


def test_an_empty_date_is_reported_as_required():
    with pytest.raises(FieldError, match="Date of birth is required"):
        parse_date("   ", label="Date of birth")


def test_an_ambiguous_search_date_means_both_orders():
    assert candidate_dates("03/04/2020") == [date(2020, 4, 3), date(2020, 3, 4)]


def test_an_unambiguous_search_date_means_only_one_day():
    assert candidate_dates("13/04/2020") == [date(2020, 4, 13)]
    assert candidate_dates("04/13/2020") == [date(2020, 4, 13)]
    assert candidate_dates("2020-04-03") == [date(2020, 4, 3)]
    assert candidate_dates("05/05/2020") == [date(2020, 5, 5)]


def test_text_that_cannot_be_a_date_has_no_candidates():
    assert candidate_dates("smith") == []
    assert candidate_dates("31/31/2020") == []


def test_dates_are_shown_in_the_clinic_order():
    assert format_date(date(2020, 4, 3), "DMY") == "03/04/2020"
    assert format_date(date(2020, 4, 3), "MDY") == "04/03/2020"


@pytest.mark.parametrize(
    ("typed", "region", "stored"),
    [
        ("(212) 555-0142", "US", "+12125550142"),
        ("212.555.0142", "US", "+12125550142"),
        ("+1 212 555 0142", "GB", "+12125550142"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("07700 900123", "GB", "+447700900123"),
    ],
)
def test_a_phone_number_is_stored_in_e164(typed, region, stored):
    assert normalise_phone(typed, region, field="mobile_phone", label="Mobile") == stored


def test_an_empty_phone_number_stays_empty():
    assert normalise_phone("  ", "US", field="mobile_phone", label="Mobile") == ""


def test_letters_are_not_a_phone_number():
    with pytest.raises(FieldError) as e:
        normalise_phone("call me", "US", field="home_phone", label="Home phone")
    assert e.value.field == "home_phone"
    assert e.value.message == "Home phone: 'call me' is not a phone number."


def test_too_few_digits_are_named_as_the_problem():
    with pytest.raises(FieldError, match="wrong number of digits"):
        normalise_phone("555-01", "US", field="mobile_phone", label="Mobile")


def test_a_local_number_is_shown_in_the_national_format():
    assert display_phone("+12125550142", "US") == "(212) 555-0142"
    assert display_phone("+442079460958", "GB") == "020 7946 0958"


def test_a_foreign_number_is_shown_with_its_country_code():
    assert display_phone("+442079460958", "US") == "+44 20 7946 0958"


def test_an_empty_or_unreadable_stored_number_is_shown_as_it_is():
    assert display_phone("", "US") == ""
    assert display_phone("not a number", "US") == "not a number"


def test_search_digits_end_with_the_national_number_people_type():
    assert phone_digits("+12125550142").endswith("2125550142")
    assert phone_digits("+442079460958").endswith("2079460958")
    assert phone_digits("") == ""
