"""The procedure catalogue: what a practice can chart, plan and bill, read from CSV files.

We ship our own codes and wording (resources/procedures.csv) because the ADA's CDT codes
are licensed; a clinic that holds a licence imports its own list with parse_catalogue_csv.
Money is held as whole cents in ints and read with Decimal, never float, so that
$0.10 + $0.20 is exactly $0.30 and a fee is never rounded behind anyone's back.
"""

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TypeVar

from app.domain.errors import UserError

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
PROCEDURES_CSV = RESOURCES / "procedures.csv"
CONDITIONS_CSV = RESOURCES / "conditions.csv"

REQUIRED_COLUMNS = ("code", "description", "category", "default_fee")
OPTIONAL_COLUMNS = ("area", "surfaces_required", "condition")
CONDITION_COLUMNS = ("code", "label", "area", "draw")
MAX_CODE = 16
MAX_DESCRIPTION = 200
MAX_FEE_CENTS = 100_000_00
MAX_SURFACES = 5

# how a completed or planned procedure looks on the odontogram; "" is just a mark
PROCEDURE_DRAWS = frozenset(
    {"", "filling", "crown", "root_canal", "extraction", "implant", "pontic", "abutment", "sealant", "veneer", "bridge"}
)
# how a finding looks; "extraction" is a procedure's drawing, a finding shows "missing"
CONDITION_DRAWS = (PROCEDURE_DRAWS - {"", "extraction"}) | {
    "missing",
    "impacted",
    "unerupted",
    "caries",
    "fracture",
    "watch",
}

_E = TypeVar("_E", bound=StrEnum)
_CODE = re.compile(r"[A-Za-z0-9.\-]+")
_WHOLE = re.compile(r"[0-9]+")
# longer than any sane amount; keeps Decimal and int away from megabytes of digits
_MAX_MONEY_TEXT = 40


class Category(StrEnum):
    DIAGNOSTIC = "diagnostic"
    PREVENTIVE = "preventive"
    RESTORATIVE = "restorative"
    ENDODONTICS = "endodontics"
    PERIODONTICS = "periodontics"
    PROSTHODONTICS = "prosthodontics"
    IMPLANTS = "implants"
    ORAL_SURGERY = "oral_surgery"
    ORTHODONTICS = "orthodontics"
    ADJUNCTIVE = "adjunctive"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Area(StrEnum):
    """Where on the mouth a procedure is charted."""

    MOUTH = "mouth"
    ARCH = "arch"
    QUADRANT = "quadrant"
    TOOTH = "tooth"
    # a tooth and 1..5 of its surfaces
    SURFACE = "surface"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True, slots=True)
class ProcedureDef:
    """One row of the catalogue."""

    code: str
    description: str
    category: Category
    fee_cents: int
    area: Area
    # fewest surfaces to pick; 0 unless area is SURFACE
    surfaces_required: int
    # one of PROCEDURE_DRAWS
    draw: str


@dataclass(frozen=True, slots=True)
class ConditionDef:
    """A chart finding (not a procedure): missing, caries, an existing crown, ..."""

    code: str
    label: str
    area: Area
    # one of CONDITION_DRAWS
    draw: str


@dataclass(frozen=True, slots=True)
class BadLine:
    """A row that was not imported. `line` is as a text editor shows it (the header is line 1);
    `message` is complete on its own and starts with the line, e.g.
    'line 7: default_fee "12,50x" is not an amount of money'."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ParsedCatalogue:
    """The good rows in file order, and every row that was refused."""

    procedures: tuple[ProcedureDef, ...]
    bad_lines: tuple[BadLine, ...]


# --- money -----------------------------------------------------------------------------

# (thousands mark, decimal mark): dollars with an optional "$", thousands grouped or not at all
_US = (",", ".")
_DECIMAL_COMMA = (".", ",")
_MONEY_PATTERNS = {
    marks: re.compile(
        r"(?P<minus>-?)\s*\$?\s*(?P<minus2>-?)\s*"
        rf"(?P<whole>[0-9]{{1,3}}(?:{re.escape(marks[0])}[0-9]{{3}})+|[0-9]*)"
        rf"(?:{re.escape(marks[1])}(?P<cents>[0-9]*))?"
    )
    for marks in (_US, _DECIMAL_COMMA)
}


def _read_money(text: str, marks: tuple[str, str]) -> tuple[int | None, str]:
    """(cents, "") or (None, why not) where why not reads after the quoted amount."""
    m = _MONEY_PATTERNS[marks].fullmatch(text) if len(text) <= _MAX_MONEY_TEXT else None
    if m is None or not (m["whole"] or m["cents"]):
        return None, "is not an amount of money"
    if m["minus"] and m["minus2"]:
        return None, "is not an amount of money"
    cents_text = m["cents"] or ""
    if len(cents_text) > 2:
        # refused, not rounded: a catalogue fee of 12.345 is a typing mistake, not a price
        return None, "has more than two decimal places"
    if m["minus"] or m["minus2"]:
        return None, "is negative"
    amount = Decimal(f"{m['whole'].replace(marks[0], '') or '0'}.{cents_text or '0'}")
    return int(amount.scaleb(2)), ""


def parse_money(text: str) -> int:
    """An amount typed as dollars ("125", "125.5", "$1,250.00") in whole cents.

    The comma only groups thousands and the point marks the cents; negative amounts, more
    than two decimals and anything else are refused with a UserError.
    """
    stripped = text.strip()
    if not stripped:
        raise UserError("An amount of money is required.")
    cents, why_not = _read_money(stripped, _US)
    if cents is None:
        raise UserError(f'"{stripped}" {why_not}.')
    return cents


_REASON_RANK = ("is negative", "has more than two decimal places", "is not an amount of money")


def _read_fee(text: str, semicolons: bool) -> tuple[int | None, str]:
    """A fee cell. Files split by semicolons usually come from places that write 12,50 for
    12.50, so there either reading is taken when it is the only one that makes sense."""
    cents, why_not = _read_money(text, _US)
    if not semicolons:
        return cents, why_not
    other, other_why = _read_money(text, _DECIMAL_COMMA)
    if cents is not None and other is not None and cents != other:
        return None, "could be read two ways; write it as 1250.00"
    if cents is None and other is None:
        # the more telling of the two reasons ("is negative" over "is not an amount")
        return None, min(why_not, other_why, key=_REASON_RANK.index)
    return (cents if cents is not None else other), ""


def format_money(cents: int) -> str:
    """125050 -> "$1,250.50"; -1200 -> "-$12.00"."""
    dollars, rest = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}${dollars:,}.{rest:02d}"


# --- CSV -------------------------------------------------------------------------------


def _key(text: str) -> str:
    """How a header name or a word in a cell is matched: "Oral surgery" -> "oral_surgery"."""
    return "_".join(text.strip().lower().replace("-", " ").split())


def _enum(kind: type[_E], text: str) -> _E | None:
    """The member whose value, or label, the text names."""
    try:
        return kind(_key(text))
    except ValueError:
        return None


def _choices(values: Iterable[str]) -> str:
    return ", ".join(values)


def _delimiter(text: str) -> str:
    # the header decides: names never hold either character, and a sniffer guessing from the
    # data is fooled by fees like "1,250.00" and descriptions full of commas
    first = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if first.count(";") > first.count(",") else ","


def _rows(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows with the editor line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[int, list[str]]] = []
    last = 0
    try:
        for row in reader:
            # a quoted value may run over several lines, so the row starts after the last one
            start, last = last + 1, reader.line_num
            if any(cell.strip() for cell in row):
                out.append((start, row))
    except csv.Error as e:
        raise UserError(f"line {reader.line_num}: the file cannot be read as CSV ({e}).") from None
    return out


def _header(row: list[str], required: tuple[str, ...]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for i, name in enumerate(row):
        key = _key(name)
        if not key:
            continue
        if key in columns:
            raise UserError(f'The column "{key}" appears twice in the first line.')
        columns[key] = i
    missing = [name for name in required if name not in columns]
    if missing:
        names = ", ".join(f'"{name}"' for name in missing)
        raise UserError(
            f"The first line has no {names} column{'s' if len(missing) > 1 else ''}; "
            f"it must name the columns {', '.join(required)}."
        )
    return columns


def _extra_values(row: list[str], width: int, delimiter: str) -> str:
    """A problem when the row has more values than the header has columns, else ""."""
    # even an empty extra value counts: "1,250.00" unquoted pushes an empty last column out
    if len(row) <= width:
        return ""
    mark = "comma" if delimiter == "," else "semicolon"
    return (
        f"has {len(row)} values but the first line names {width} columns; "
        f"a value holding a {mark} must be in double quotes"
    )


def _procedure(cell: dict[str, str | None], semicolons: bool) -> tuple[ProcedureDef | None, list[str]]:
    """The row as a ProcedureDef, or None and what is wrong with it."""
    problems: list[str] = []

    code = cell["code"] or ""
    if not code:
        problems.append("code is empty")
    elif len(code) > MAX_CODE:
        problems.append(f'code "{code}" is longer than {MAX_CODE} characters')
    elif not _CODE.fullmatch(code):
        problems.append(f'code "{code}" may hold only letters, digits, "." and "-"')

    description = " ".join((cell["description"] or "").split())
    if not description:
        problems.append("description is empty")
    elif len(description) > MAX_DESCRIPTION:
        problems.append(f"description is longer than {MAX_DESCRIPTION} characters")

    category_text = cell["category"] or ""
    category = _enum(Category, category_text)
    if category is None and category_text:
        problems.append(f'category "{category_text}" is not one of {_choices(Category)}')
    elif category is None:
        problems.append(f"category is empty; use one of {_choices(Category)}")

    fee: int | None = None
    fee_text = cell["default_fee"] or ""
    if not fee_text:
        problems.append("default_fee is empty")
    else:
        fee, why_not = _read_fee(fee_text, semicolons)
        if fee is None:
            problems.append(f'default_fee "{fee_text}" {why_not}')
        elif fee > MAX_FEE_CENTS:
            problems.append(f'default_fee "{fee_text}" is more than {format_money(MAX_FEE_CENTS)}')
            fee = None

    area_text = cell["area"] or ""
    area = _enum(Area, area_text) if area_text else Area.TOOTH
    if area is None:
        problems.append(f'area "{area_text}" is not one of {_choices(Area)}')

    surfaces: int | None = None
    surfaces_text = cell["surfaces_required"] or ""
    if not surfaces_text:
        # "at least one surface" is the only sensible default for a surface procedure
        surfaces = 1 if area is Area.SURFACE else 0
    elif _WHOLE.fullmatch(surfaces_text) and int(surfaces_text) <= MAX_SURFACES:
        surfaces = int(surfaces_text)
    else:
        problems.append(f'surfaces_required "{surfaces_text}" is not a whole number from 0 to {MAX_SURFACES}')
    if surfaces is not None and area is Area.SURFACE and surfaces == 0:
        problems.append('surfaces_required is 0 but area "surface" needs 1 to 5 surfaces')
    elif surfaces is not None and area is not None and area is not Area.SURFACE and surfaces > 0:
        problems.append(f'surfaces_required is {surfaces} but only area "surface" takes surfaces, not "{area}"')

    condition_text = cell["condition"] or ""
    draw = _key(condition_text)
    if draw not in PROCEDURE_DRAWS:
        problems.append(f'condition "{condition_text}" is not one of {_choices(sorted(PROCEDURE_DRAWS - {""}))}')

    if problems or category is None or fee is None or area is None or surfaces is None:
        return None, problems
    return ProcedureDef(code, description, category, fee, area, surfaces, draw), []


def parse_catalogue_csv(text: str) -> ParsedCatalogue:
    """Procedures from a CSV file: ours, or a clinic's own licensed list.

    The first non-blank line names the columns (any case, any order; other columns are
    ignored): code, description, category and default_fee are required; area ("tooth" when
    absent), surfaces_required (0, or 1 for area "surface", when absent) and condition ("")
    are optional. Values are split by commas or, when the first line holds more semicolons
    than commas, by semicolons; in such files a fee may also be written 1.250,00. A UTF-8
    byte-order mark is ignored, and so are blank lines.

    Every row is checked; a row that fails becomes a BadLine naming its columns and values
    and the good rows are still returned. A second row with a code already used (in any
    case) is refused and names the first one's line. A file with no lines, or whose first
    line lacks a required column, raises UserError.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    delimiter = _delimiter(text)
    rows = _rows(text, delimiter)
    if not rows:
        raise UserError("The file is empty.")
    (_, header_row), data = rows[0], rows[1:]
    columns = _header(header_row, REQUIRED_COLUMNS)

    procedures: list[ProcedureDef] = []
    bad: list[BadLine] = []
    first_line_of: dict[str, int] = {}
    for line, row in data:
        extra = _extra_values(row, len(header_row), delimiter)
        if extra:
            # the values have shifted columns, so any further complaint would mislead
            bad.append(BadLine(line, f"line {line}: {extra}"))
            continue
        cell: dict[str, str | None] = {
            name: (row[columns[name]].strip() if columns[name] < len(row) else "") if name in columns else None
            for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS
        }
        proc, problems = _procedure(cell, delimiter == ";")
        code = cell["code"] or ""
        if code and _CODE.fullmatch(code) and len(code) <= MAX_CODE:
            # remembered even when the first row is bad, so both faults show in one go
            first = first_line_of.setdefault(code.upper(), line)
            if first != line:
                problems.insert(0, f'code "{code}" is already used on line {first}')
                proc = None
        if proc is None:
            bad.append(BadLine(line, f"line {line}: " + "; ".join(problems)))
        else:
            procedures.append(proc)
    return ParsedCatalogue(tuple(procedures), tuple(bad))


@cache
def shipped_procedures() -> tuple[ProcedureDef, ...]:
    """Our own catalogue, as shipped in resources/procedures.csv."""
    parsed = parse_catalogue_csv(PROCEDURES_CSV.read_text(encoding="utf-8"))
    if parsed.bad_lines:
        # our file, our bug: nothing a user can do about it
        raise RuntimeError(f"{PROCEDURES_CSV}: " + " | ".join(b.message for b in parsed.bad_lines))
    return parsed.procedures


@cache
def shipped_conditions() -> tuple[ConditionDef, ...]:
    """The chart findings, as shipped in resources/conditions.csv."""
    rows = _rows(CONDITIONS_CSV.read_text(encoding="utf-8").removeprefix("\ufeff"), ",")
    columns = _header(rows[0][1], CONDITION_COLUMNS)
    out: list[ConditionDef] = []
    problems: list[str] = []
    seen: set[str] = set()
    for line, row in rows[1:]:
        code, label, area, draw = (row[columns[n]].strip() if columns[n] < len(row) else "" for n in CONDITION_COLUMNS)
        if not _CODE.fullmatch(code.replace("_", "")) or code in seen:
            problems.append(f'line {line}: code "{code}" is not a new code')
        elif not label:
            problems.append(f"line {line}: label is empty")
        elif _enum(Area, area) is None:
            problems.append(f'line {line}: area "{area}" is not one of {_choices(Area)}')
        elif draw not in CONDITION_DRAWS:
            problems.append(f'line {line}: draw "{draw}" is not one of {_choices(sorted(CONDITION_DRAWS))}')
        else:
            out.append(ConditionDef(code, label, Area(_key(area)), draw))
        seen.add(code)
    if problems:
        raise RuntimeError(f"{CONDITIONS_CSV}: " + " | ".join(problems))
    return tuple(out)
