"""Message templates with placeholders; what a patient receives, and nothing clinical.

A reminder travels over email and SMS, which are neither private nor reliably addressed:
a message names the clinic, the day and the time, never a procedure, an appointment type,
a provider's specialty or a note. The allowed placeholders below are the whole vocabulary,
so a template cannot reach for anything else.
"""

import string
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

PLACEHOLDERS = frozenset({"first_name", "clinic_name", "date", "time", "clinic_phone"})

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class TemplateError(ValueError):
    """A template or its values use something outside the allowed placeholders."""


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


# bodies stay under 160 characters once filled in, so an SMS goes as one segment
TEMPLATES: dict[str, Template] = {
    "appointment_reminder": Template(
        subject="Appointment reminder from {clinic_name}",
        body=(
            "Hi {first_name}, a reminder of your appointment at {clinic_name} on {date} at {time}. "
            "To change it, call {clinic_phone}."
        ),
    ),
    "appointment_cancelled": Template(
        subject="Your appointment at {clinic_name} is cancelled",
        body=(
            "Hi {first_name}, your appointment at {clinic_name} on {date} at {time} has been cancelled. "
            "To book again, call {clinic_phone}."
        ),
    ),
    "appointment_moved": Template(
        subject="Your appointment at {clinic_name} has moved",
        body=(
            "Hi {first_name}, your appointment at {clinic_name} is now on {date} at {time}. "
            "If that does not suit you, call {clinic_phone}."
        ),
    ),
    "recall_due": Template(
        subject="Time for your next visit to {clinic_name}",
        body="Hi {first_name}, you are due for a visit to {clinic_name} around {date}. Call {clinic_phone} to book.",
    ),
    "billing_statement_ready": Template(
        subject="Your statement from {clinic_name}",
        body="Hi {first_name}, a new statement from {clinic_name} is ready. Questions? Call {clinic_phone}.",
    ),
}


def placeholders_of(text: str) -> set[str]:
    """The placeholder names a template text uses; refuses formats, conversions and indexing."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise TemplateError(f"Malformed template: {e}") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            # "{first_name.__class__}" or "{x!r}" could reach beyond the plain value
            raise TemplateError(f"Placeholder {{{field}}} must be a plain name.")
        names.add(field)
    return names


def check_template(template: Template) -> set[str]:
    """The placeholders a template needs, or TemplateError naming an unknown one."""
    used = placeholders_of(template.subject) | placeholders_of(template.body)
    unknown = used - PLACEHOLDERS
    if unknown:
        raise TemplateError(f"Unknown placeholder(s): {', '.join(sorted(unknown))}.")
    return used


def _one_line(value: str) -> str:
    # values land in an email header too: no line breaks, so no header injection
    return " ".join(str(value).split())


def render(key: str, **values: str) -> Rendered:
    """Fill in the template `key`; refuses unknown templates, unknown or missing placeholders."""
    template = TEMPLATES.get(key)
    if template is None:
        raise TemplateError(f"There is no message template '{key}'.")
    unknown = set(values) - PLACEHOLDERS
    if unknown:
        raise TemplateError(f"Unknown placeholder(s): {', '.join(sorted(unknown))}.")
    needed = check_template(template)
    missing = needed - set(values)
    if missing:
        raise TemplateError(f"Template '{key}' needs: {', '.join(sorted(missing))}.")
    clean = {k: _one_line(v) for k, v in values.items()}
    return Rendered(template.subject.format_map(clean), template.body.format_map(clean))


def format_date(day: date, date_order: str) -> str:
    """A day as a patient reads it, in the clinic's date order: 'Tuesday, May 14' or 'Tuesday 14 May'."""
    weekday, month = _WEEKDAYS[day.weekday()], _MONTHS[day.month - 1]
    if date_order == "DMY":
        return f"{weekday} {day.day} {month}"
    if date_order == "YMD":
        return f"{weekday} {day.isoformat()}"
    return f"{weekday}, {month} {day.day}"


def format_time(instant: datetime, time_zone: str, date_order: str) -> str:
    """A wall-clock time at the location: 12-hour where dates are MDY (US habit), else 24-hour."""
    local = instant.astimezone(ZoneInfo(time_zone))
    if date_order == "MDY":
        hour = local.hour % 12 or 12
        return f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    return f"{local.hour:02d}:{local.minute:02d}"


def appointment_values(
    *, first_name: str, clinic_name: str, clinic_phone: str, starts_at: datetime, time_zone: str, date_order: str
) -> dict[str, str]:
    """Placeholder values for an appointment message, with the date and time at the location."""
    local_day = starts_at.astimezone(ZoneInfo(time_zone)).date()
    return {
        "first_name": first_name,
        "clinic_name": clinic_name,
        "clinic_phone": clinic_phone,
        "date": format_date(local_day, date_order),
        "time": format_time(starts_at, time_zone, date_order),
    }
