"""Phone numbers stored in E.164 and shown in the clinic's national format."""

import phonenumbers

from app.domain.errors import FieldError


def normalise_phone(text: str, region: str, *, field: str, label: str) -> str:
    """E.164 form of a typed phone number ('' stays ''), or a FieldError saying why not."""
    text = text.strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise FieldError(field, f"{label}: '{text}' is not a phone number.") from None
    if not phonenumbers.is_possible_number(number):
        raise FieldError(field, f"{label}: '{text}' has the wrong number of digits for a phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str, region: str) -> str:
    """The stored number as people in the clinic's region write it."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_digits(e164: str) -> str:
    """The stored number's digits, for matching the trailing digits people type."""
    return "".join(c for c in e164 if c.isdigit())
