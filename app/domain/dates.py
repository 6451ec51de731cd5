"""Reading dates as receptionists type them, with messages that say what is wrong."""

import re
from datetime import date

from app.domain.errors import FieldError

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_LOCAL = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_MONTHS = ("January February March April May June July August September October November December").split()


def _make(year: int, month: int, day: int, field: str, label: str, text: str) -> date:
    if not 1 <= month <= 12:
        raise FieldError(field, f"{label}: '{text}' has no month {month}.")
    try:
        return date(year, month, day)
    except ValueError:
        raise FieldError(
            field, f"{label}: '{text}' is not a real date (there is no {day} {_MONTHS[month - 1]} {year})."
        ) from None


def parse_date(text: str, order: str = "DMY", *, field: str = "date", label: str = "Date") -> date:
    """A date from 'YYYY-MM-DD' or the clinic's local order ('DMY' or 'MDY')."""
    text = text.strip()
    if not text:
        raise FieldError(field, f"{label} is required.")
    if m := _ISO.match(text):
        y, mo, d = (int(g) for g in m.groups())
        return _make(y, mo, d, field, label, text)
    if m := _LOCAL.match(text):
        a, b, y = (int(g) for g in m.groups())
        d, mo = (a, b) if order == "DMY" else (b, a)
        return _make(y, mo, d, field, label, text)
    example = "31/12/1980" if order == "DMY" else "12/31/1980"
    raise FieldError(field, f"{label}: '{text}' is not a date; type it as {example} or 1980-12-31.")


def candidate_dates(text: str) -> list[date]:
    """Every date a search text could mean (both orders when it is ambiguous)."""
    text = text.strip()
    found: list[date] = []
    for order in ("DMY", "MDY"):
        try:
            d = parse_date(text, order)
        except FieldError:
            continue
        if d not in found:
            found.append(d)
    return found


def format_date(value: date, order: str = "DMY") -> str:
    """A date in the clinic's local order."""
    if order == "MDY":
        return f"{value.month:02d}/{value.day:02d}/{value.year}"
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def age_on(born: date, day: date) -> int:
    """Whole years of age on `day` (a birthday not yet reached this year does not count)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
