"""Periodontal exam maths: six-site readings, derived figures, comparison, probing order, staging hints.

Conventions
- Only permanent teeth are charted (`teeth.PERMANENT`), keyed by FDI id.
- Six sites per tooth, stored in the fixed order SITES = DB, B, MB, DL, L, ML: the three facial
  (buccal) sites, then the three lingual (palatal) ones, each distal, middle, mesial.
- Probing depth (PD): whole mm from the gingival margin to the base of the pocket, 0..19.
- Gingival margin (GM): whole mm from the cemento-enamel junction (CEJ) to the margin.
  Positive is recession (margin apical to the CEJ, root showing); negative is a margin
  coronal to the CEJ (enlargement, pseudo-pocket). -9..15. A blank GM counts as 0.
- Clinical attachment level CAL = PD + GM, so a 5 mm pocket with 2 mm recession is 7 mm of
  attachment loss and a 5 mm pocket under 2 mm of enlargement is 3 mm. No PD, no CAL.
- Bleeding, suppuration and plaque are yes/no per site; mobility 0..3 per tooth; furcation
  grade 1..3, only at the sites `teeth.furcation_sites` names for that tooth.
- A missing tooth holds no readings. An implant is present and charted like a tooth, but has no
  furcations, and is left out of staging (peri-implant disease is not periodontitis) and of
  the count of remaining teeth. Marking a tooth missing clears its readings and its implant
  flag; marking it an implant makes it present.

Derived figures (`summarize`)
- Sites probed: sites of present teeth with a PD. Bleeding % is bleeding sites among those,
  so a bleeding mark on an unprobed site does not count. Plaque % is plaque sites over
  present teeth x 6, as plaque is scored on every surface whether probed or not.
- Percentages and means are rounded half-up to one decimal.

Staging suggestion (`suggest_stage_grade`), after the 2017 AAP/EFP classification, simplified;
a suggestion for the clinician, never a diagnosis:
- Interdental sites are DB, MB, DL and ML. Implants are ignored throughout.
- Periodontitis is suggested when interdental CAL >= 3 mm is found on 2 or more non-adjacent
  teeth, or when interdental sites with CAL >= 1 mm and PD >= 4 mm are found on 2 or more
  non-adjacent teeth. Adjacent teeth are neighbours in the same arch (11 and 21 included).
- Stage by the greatest interdental CAL: 1-2 mm I, 3-4 mm II, 5 mm or more III. Complexity
  raises it: a deepest pocket of 5 mm makes it at least II; 6 mm or more, or a furcation of
  grade 2 or 3, at least III. Stage III becomes IV when any tooth has mobility 2 or more, or
  fewer than 20 natural teeth remain.
- Extent: a tooth is involved when its greatest interdental CAL reaches the lower bound of the
  attachment-loss band that set the severity (1 mm for I, 3 for II, 5 for III); using the
  band rather than a stage raised by complexity keeps at least one tooth involved.
  "molar/incisor pattern" when every involved tooth is a first molar or an incisor;
  otherwise "localized" when under 30% of natural teeth are involved, else "generalized".
- Grade from direct evidence: the earliest earlier exam at least 365 days before this one;
  the greatest CAL increase at any site probed in both, scaled to 5 years: none A, under
  2 mm B, 2 mm or more C. Without such an exam: C when the patient is under 35 with stage III
  or IV ("severe loss for age"), otherwise B, the classification's default.
"""

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from app.domain import teeth
from app.domain.errors import FieldError, ValidationError
from app.domain.teeth import Arch

SITES = ("DB", "B", "MB", "DL", "L", "ML")
FACIAL = SITES[:3]
LINGUAL = SITES[3:]
INTERDENTAL = (0, 2, 3, 5)  # indices of DB, MB, DL, ML
FLAGS = ("bleeding", "suppuration", "plaque")
MAX_DEPTH = 19
MIN_MARGIN, MAX_MARGIN = -9, 15
MAX_MOBILITY = 3
MAX_FURCATION = 3
_PERMANENT = frozenset(teeth.PERMANENT)
_SITE_INDEX = {s: i for i, s in enumerate(SITES)}
JSON_VERSION = 1


def _blank_numbers() -> list[int | None]:
    return [None] * 6


def _blank_flags() -> list[bool]:
    return [False] * 6


def cal(depth: int | None, margin: int | None) -> int | None:
    """Clinical attachment level: PD + GM, a blank GM counting as 0; None without a PD."""
    if depth is None:
        return None
    return depth + (margin or 0)


@dataclass(slots=True)
class ToothReading:
    """One tooth's readings; lists hold six values in SITES order."""

    tooth: str
    missing: bool = False
    implant: bool = False
    depth: list[int | None] = field(default_factory=_blank_numbers)
    margin: list[int | None] = field(default_factory=_blank_numbers)
    bleeding: list[bool] = field(default_factory=_blank_flags)
    suppuration: list[bool] = field(default_factory=_blank_flags)
    plaque: list[bool] = field(default_factory=_blank_flags)
    mobility: int | None = None
    furcation: dict[str, int] = field(default_factory=dict)  # site -> grade 1..3

    def cal(self, site_index: int) -> int | None:
        return cal(self.depth[site_index], self.margin[site_index])

    def has_readings(self) -> bool:
        """True when anything at all is recorded besides the missing and implant marks."""
        return (
            any(v is not None for v in self.depth)
            or any(v is not None for v in self.margin)
            or any(self.bleeding)
            or any(self.suppuration)
            or any(self.plaque)
            or self.mobility is not None
            or bool(self.furcation)
        )

    def clear(self) -> None:
        """Forget every reading; the missing and implant marks stay."""
        self.depth[:] = _blank_numbers()
        self.margin[:] = _blank_numbers()
        self.bleeding[:] = _blank_flags()
        self.suppuration[:] = _blank_flags()
        self.plaque[:] = _blank_flags()
        self.mobility = None
        self.furcation.clear()


# --- limits: each returns the message for a value that cannot be accepted, or None -------------


def _depth_problem(tooth: str, site: str, value: int | None) -> str | None:
    if value is None or 0 <= value <= MAX_DEPTH:
        return None
    return f"Probing depth {value} mm at {tooth} {site} is not possible (0–{MAX_DEPTH} mm)."


def _margin_problem(tooth: str, site: str, value: int | None) -> str | None:
    if value is None or MIN_MARGIN <= value <= MAX_MARGIN:
        return None
    return f"Gingival margin {value} mm at {tooth} {site} is not possible ({MIN_MARGIN} to {MAX_MARGIN} mm)."


def _mobility_problem(tooth: str, value: int | None) -> str | None:
    if value is None or 0 <= value <= MAX_MOBILITY:
        return None
    return f"Mobility {value} on {tooth} is not possible (0–{MAX_MOBILITY})."


def _and_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _furcation_problem(r: ToothReading, site: str, grade: int) -> str | None:
    t = r.tooth
    if r.implant:
        return f"{t} is an implant; implants have no furcations."
    allowed = teeth.furcation_sites(t)
    if not allowed:
        return f"Furcation is charted only on molars and upper first premolars; {t} has none."
    if site not in allowed:
        where = _and_list([s for s in teeth.FURCATION_ORDER if s in allowed])
        return f"No furcation at {site} on {t}; {t} has furcations at {where} only."
    if not 1 <= grade <= MAX_FURCATION:
        return f"Furcation grade {grade} at {t} {site} is not possible (1–{MAX_FURCATION})."
    return None


def _missing_message(tooth: str) -> str:
    return f"{tooth} is marked missing; unmark it before charting readings on it."


def _refuse(field_name: str, message: str) -> ValidationError:
    return ValidationError([FieldError(field_name, message)])


def _site(site_index: int) -> str:
    # a bad index is a programming error; a negative one would silently pick another site
    if not 0 <= site_index < 6:
        raise ValueError(f"site index out of range: {site_index}")
    return SITES[site_index]


# --- the exam --------------------------------------------------------------------------------


@dataclass(slots=True)
class PerioExam:
    """A full-mouth exam: one ToothReading per permanent tooth, in display order.

    The entry widget edits it in place through the setters, which check each value and
    raise ValidationError, leaving the exam as it was, when it cannot be accepted.
    """

    teeth: dict[str, ToothReading]

    @classmethod
    def blank(cls, missing: Iterable[str] = (), implants: Iterable[str] = ()) -> "PerioExam":
        """An empty exam with the given teeth marked missing or as implants."""
        gone, fixtures = set(missing), set(implants)
        errors = [
            FieldError(t, f'No tooth "{t}" in the perio chart (permanent teeth 11–48).')
            for t in sorted((gone | fixtures) - _PERMANENT)
        ]
        errors += [
            FieldError(f"{t}.implant", f"{t} cannot be both missing and an implant.")
            for t in sorted((gone & fixtures) & _PERMANENT)
        ]
        if errors:
            raise ValidationError(errors)
        return cls({t: ToothReading(t, missing=t in gone, implant=t in fixtures) for t in teeth.PERMANENT})

    def present_teeth(self) -> list[str]:
        """Teeth and implants that are there, in display order."""
        return [t for t in teeth.PERMANENT if t in self.teeth and not self.teeth[t].missing]

    def _reading(self, tooth: str, field_name: str) -> ToothReading:
        r = self.teeth.get(tooth)
        if r is None:
            raise _refuse(field_name, f'No tooth "{tooth}" in the perio chart (permanent teeth 11–48).')
        return r

    def _writable(self, tooth: str, field_name: str) -> ToothReading:
        r = self._reading(tooth, field_name)
        if r.missing:
            raise _refuse(field_name, _missing_message(tooth))
        return r

    def set_depth(self, tooth: str, site_index: int, value: int | None) -> None:
        site = _site(site_index)
        name = f"{tooth}.{site}.depth"
        # clearing is always allowed; writing needs the tooth to be there
        r = self._reading(tooth, name) if value is None else self._writable(tooth, name)
        problem = _depth_problem(tooth, site, value)
        if problem:
            raise _refuse(name, problem)
        r.depth[site_index] = value

    def set_margin(self, tooth: str, site_index: int, value: int | None) -> None:
        site = _site(site_index)
        name = f"{tooth}.{site}.margin"
        r = self._reading(tooth, name) if value is None else self._writable(tooth, name)
        problem = _margin_problem(tooth, site, value)
        if problem:
            raise _refuse(name, problem)
        r.margin[site_index] = value

    def set_flag(self, flag: str, tooth: str, site_index: int, value: bool) -> None:
        """Set "bleeding", "suppuration" or "plaque" at a site."""
        if flag not in FLAGS:
            raise ValueError(f"unknown perio flag: {flag!r}")
        site = _site(site_index)
        name = f"{tooth}.{site}.{flag}"
        r = self._writable(tooth, name) if value else self._reading(tooth, name)
        getattr(r, flag)[site_index] = bool(value)

    def toggle(self, flag: str, tooth: str, site_index: int) -> bool:
        """Flip "bleeding", "suppuration" or "plaque" at a site; returns the new state."""
        if flag not in FLAGS:
            raise ValueError(f"unknown perio flag: {flag!r}")
        r = self._reading(tooth, f"{tooth}.{_site(site_index)}.{flag}")
        value = not getattr(r, flag)[site_index]
        self.set_flag(flag, tooth, site_index, value)
        return value

    def set_mobility(self, tooth: str, value: int | None) -> None:
        name = f"{tooth}.mobility"
        r = self._reading(tooth, name) if value is None else self._writable(tooth, name)
        problem = _mobility_problem(tooth, value)
        if problem:
            raise _refuse(name, problem)
        r.mobility = value

    def set_furcation(self, tooth: str, site: str, grade: int | None) -> None:
        """Chart a furcation grade 1..3 at one of the tooth's furcation sites; None removes it."""
        name = f"{tooth}.{site}.furcation"
        if grade is None:
            self._reading(tooth, name).furcation.pop(site, None)
            return
        r = self._writable(tooth, name)
        problem = _furcation_problem(r, site, grade)
        if problem:
            raise _refuse(name, problem)
        r.furcation[site] = grade

    def set_missing(self, tooth: str, missing: bool) -> None:
        """Mark a tooth missing (clearing its readings and implant mark) or present again."""
        r = self._reading(tooth, f"{tooth}.missing")
        if missing:
            r.clear()
            r.implant = False
        r.missing = bool(missing)

    def set_implant(self, tooth: str, implant: bool) -> None:
        """Mark a tooth as an implant (present; any furcations go) or as a natural tooth."""
        r = self._reading(tooth, f"{tooth}.implant")
        if implant:
            r.missing = False
            r.furcation.clear()
        r.implant = bool(implant)

    # --- whole-exam checks and storage ---------------------------------------------------

    def validate(self) -> None:
        """Check every reading against the limits; raises one ValidationError listing all problems."""
        errors: list[FieldError] = []
        if set(self.teeth) != _PERMANENT:
            unknown = sorted(set(self.teeth) - _PERMANENT)
            absent = sorted(_PERMANENT - set(self.teeth))
            detail = f"unknown teeth {', '.join(unknown)}" if unknown else f"no entry for {', '.join(absent)}"
            errors.append(FieldError("readings", f"The perio chart does not cover the permanent teeth ({detail})."))
        for t in teeth.PERMANENT:
            r = self.teeth.get(t)
            if r is None:
                continue
            if r.tooth != t:
                errors.append(FieldError(t, f"The readings filed under {t} belong to {r.tooth}."))
                continue
            lists = (r.depth, r.margin, r.bleeding, r.suppuration, r.plaque)
            if any(len(values) != 6 for values in lists):
                errors.append(FieldError(t, f"The readings of {t} do not have six sites."))
                continue
            if r.missing and r.implant:
                errors.append(FieldError(f"{t}.implant", f"{t} cannot be both missing and an implant."))
            if r.missing and r.has_readings():
                errors.append(FieldError(f"{t}.missing", f"{t} is marked missing but has readings."))
            for i, site in enumerate(SITES):
                problem = _depth_problem(t, site, r.depth[i])
                if problem:
                    errors.append(FieldError(f"{t}.{site}.depth", problem))
                problem = _margin_problem(t, site, r.margin[i])
                if problem:
                    errors.append(FieldError(f"{t}.{site}.margin", problem))
            problem = _mobility_problem(t, r.mobility)
            if problem:
                errors.append(FieldError(f"{t}.mobility", problem))
            for site, grade in r.furcation.items():
                problem = _furcation_problem(r, site, grade)
                if problem:
                    errors.append(FieldError(f"{t}.{site}.furcation", problem))
        if errors:
            raise ValidationError(errors)

    def to_json(self) -> str:
        """A compact, stable JSON document: blank teeth and blank fields are left out, flags are 0/1."""
        doc: dict[str, dict[str, Any]] = {}
        for t in teeth.PERMANENT:
            r = self.teeth.get(t)
            if r is None:
                continue
            d: dict[str, Any] = {}
            if r.missing:
                d["missing"] = True
            if r.implant:
                d["implant"] = True
            if any(v is not None for v in r.depth):
                d["depth"] = list(r.depth)
            if any(v is not None for v in r.margin):
                d["margin"] = list(r.margin)
            for flag in FLAGS:
                values: list[bool] = getattr(r, flag)
                if any(values):
                    d[flag] = [int(v) for v in values]
            if r.mobility is not None:
                d["mobility"] = r.mobility
            if r.furcation:
                d["furcation"] = dict(r.furcation)
            if d:
                doc[t] = d
        return json.dumps({"teeth": doc, "version": JSON_VERSION}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PerioExam":
        """The exam a to_json document describes, checked as validate() does."""
        try:
            doc = json.loads(text)
        except (TypeError, ValueError):
            raise _damaged("it is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("teeth"), dict):
            raise _damaged("no teeth")
        if doc.get("version") != JSON_VERSION:
            raise _damaged(f"unknown version {doc.get('version')!r}")
        exam = cls.blank()
        for t, d in doc["teeth"].items():
            if t not in exam.teeth:
                raise _damaged(f'unknown tooth "{t}"')
            if not isinstance(d, dict) or not set(d) <= _JSON_KEYS:
                raise _damaged(f"unreadable entry for {t}")
            r = exam.teeth[t]
            r.missing = _json_bool(d.get("missing", False), t)
            r.implant = _json_bool(d.get("implant", False), t)
            r.depth = _json_numbers(d.get("depth"), t)
            r.margin = _json_numbers(d.get("margin"), t)
            r.bleeding = _json_flags(d.get("bleeding"), t)
            r.suppuration = _json_flags(d.get("suppuration"), t)
            r.plaque = _json_flags(d.get("plaque"), t)
            mobility = d.get("mobility")
            if mobility is not None and not _is_int(mobility):
                raise _damaged(f"unreadable mobility for {t}")
            r.mobility = mobility
            furcation = d.get("furcation", {})
            if not isinstance(furcation, dict) or not all(
                s in _SITE_INDEX and _is_int(g) for s, g in furcation.items()
            ):
                raise _damaged(f"unreadable furcations for {t}")
            r.furcation = dict(furcation)
        exam.validate()
        return exam


_JSON_KEYS = frozenset({"missing", "implant", "depth", "margin", "mobility", "furcation", *FLAGS})


def _damaged(detail: str) -> ValidationError:
    return _refuse("readings", f"The saved perio chart cannot be read ({detail}).")


def _is_int(v: object) -> bool:
    # JSON true/false arrive as bool, which Python counts as int
    return isinstance(v, int) and not isinstance(v, bool)


def _json_bool(v: object, tooth: str) -> bool:
    if not isinstance(v, bool):
        raise _damaged(f"unreadable mark on {tooth}")
    return v


def _json_numbers(v: object, tooth: str) -> list[int | None]:
    if v is None:
        return _blank_numbers()
    if not isinstance(v, list) or len(v) != 6 or not all(x is None or _is_int(x) for x in v):
        raise _damaged(f"unreadable readings for {tooth}")
    return list(v)


def _json_flags(v: object, tooth: str) -> list[bool]:
    if v is None:
        return _blank_flags()
    if not isinstance(v, list) or len(v) != 6 or not all(x in (0, 1) and _is_int(x) for x in v):
        raise _damaged(f"unreadable marks for {tooth}")
    return [x == 1 for x in v]


# --- summary ---------------------------------------------------------------------------------

_TENTH = Decimal("0.1")


def _ratio(numerator: int, denominator: int, scale: int = 1) -> Decimal | None:
    """numerator / denominator x scale, rounded half-up to one decimal; None when nothing to divide by."""
    if denominator == 0:
        return None
    return (Decimal(numerator * scale) / Decimal(denominator)).quantize(_TENTH, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class PerioSummary:
    teeth_present: int
    sites_probed: int
    sites_4_plus: int
    sites_5_plus: int
    bleeding_pct: Decimal | None
    plaque_pct: Decimal | None
    suppuration_sites: int
    mean_depth: Decimal | None
    mean_cal: Decimal | None


def summarize(exam: PerioExam) -> PerioSummary:
    """The figures printed under a perio chart (see the module docstring for what counts)."""
    present = [exam.teeth[t] for t in exam.present_teeth()]
    probed = four = five = bleeding = plaque = pus = depth_total = cal_total = 0
    for r in present:
        plaque += sum(r.plaque)
        pus += sum(r.suppuration)
        for i in range(6):
            d = r.depth[i]
            if d is None:
                continue
            probed += 1
            depth_total += d
            cal_total += d + (r.margin[i] or 0)
            four += d >= 4
            five += d >= 5
            bleeding += r.bleeding[i]
    return PerioSummary(
        teeth_present=len(present),
        sites_probed=probed,
        sites_4_plus=four,
        sites_5_plus=five,
        bleeding_pct=_ratio(bleeding, probed, 100),
        plaque_pct=_ratio(plaque, len(present) * 6, 100),
        suppuration_sites=pus,
        mean_depth=_ratio(depth_total, probed),
        mean_cal=_ratio(cal_total, probed),
    )


# --- comparison ------------------------------------------------------------------------------

CHANGE_THRESHOLD = 2  # mm: smaller changes are within probing error


@dataclass(frozen=True, slots=True)
class SiteChange:
    tooth: str
    site: str
    depth_before: int
    depth_after: int
    cal_before: int
    cal_after: int
    worse: bool
    better: bool


def _probed_pairs(
    before: PerioExam, after: PerioExam, *, natural_only: bool = False
) -> Iterable[tuple[str, int, int, int, int, int]]:
    """(tooth, site index, PD before, PD after, CAL before, CAL after) for sites probed in both."""
    for t in teeth.PERMANENT:
        b, a = before.teeth.get(t), after.teeth.get(t)
        if b is None or a is None or b.missing or a.missing:
            continue
        if natural_only and (b.implant or a.implant):
            continue
        for i in range(6):
            db, da = b.depth[i], a.depth[i]
            if db is None or da is None:
                continue
            yield t, i, db, da, db + (b.margin[i] or 0), da + (a.margin[i] or 0)


def compare(before: PerioExam, after: PerioExam) -> list[SiteChange]:
    """Sites probed in both exams whose PD or CAL changed, in chart order.

    Worse: PD or CAL up by 2 mm or more. Better: neither went up and one came down by 2 mm or more.
    """
    out: list[SiteChange] = []
    for t, i, db, da, cb, ca in _probed_pairs(before, after):
        if db == da and cb == ca:
            continue
        worse = da - db >= CHANGE_THRESHOLD or ca - cb >= CHANGE_THRESHOLD
        better = da <= db and ca <= cb and (db - da >= CHANGE_THRESHOLD or cb - ca >= CHANGE_THRESHOLD)
        out.append(SiteChange(t, SITES[i], db, da, cb, ca, worse, better))
    return out


def worse_sites(before: PerioExam, after: PerioExam) -> set[tuple[str, str]]:
    """(tooth, site) of every site 2 mm or more worse in PD or CAL."""
    return {(c.tooth, c.site) for c in compare(before, after) if c.worse}


# --- probing path ----------------------------------------------------------------------------


class Side(StrEnum):
    FACIAL = "facial"
    LINGUAL = "lingual"


@dataclass(frozen=True, slots=True)
class Segment:
    """One pass along an arch on one side; right_to_left is the patient's, i.e. screen left to right."""

    arch: Arch
    side: Side
    right_to_left: bool


_UF_RL = Segment(Arch.UPPER, Side.FACIAL, True)
_UL_LR = Segment(Arch.UPPER, Side.LINGUAL, False)
_UL_RL = Segment(Arch.UPPER, Side.LINGUAL, True)
_LF_LR = Segment(Arch.LOWER, Side.FACIAL, False)
_LF_RL = Segment(Arch.LOWER, Side.FACIAL, True)
_LL_RL = Segment(Arch.LOWER, Side.LINGUAL, True)

PROBING_PATHS: dict[str, tuple[str, tuple[Segment, ...]]] = {
    # continuous: each pass starts where the last ended, so the probe never jumps across the mouth
    "s-curve": (
        "Upper facial R→L, upper lingual L→R, lower lingual R→L, lower facial L→R",
        (_UF_RL, _UL_LR, _LL_RL, _LF_LR),
    ),
    # both facial rows first, staying on the side the assistant reads from
    "facial-first": (
        "Upper facial R→L, lower facial L→R, lower lingual R→L, upper lingual L→R",
        (_UF_RL, _LF_LR, _LL_RL, _UL_LR),
    ),
    # every row read like a line of text on the chart
    "row-by-row": (
        "Upper facial R→L, upper lingual R→L, lower facial R→L, lower lingual R→L",
        (_UF_RL, _UL_RL, _LF_RL, _LL_RL),
    ),
}
DEFAULT_PATH = "s-curve"


def path_segments(path_id: str) -> tuple[Segment, ...]:
    """The segments of a preset; an unknown id (a stale setting) gives the default path."""
    return PROBING_PATHS.get(path_id, PROBING_PATHS[DEFAULT_PATH])[1]


_ROWS = {Arch.UPPER: teeth.PERMANENT[:16], Arch.LOWER: teeth.PERMANENT[16:]}
# site indices left to right on screen: on the patient's right (screen left) distal is outermost
_SCREEN_SITES = {
    (Side.FACIAL, True): (0, 1, 2),  # DB, B, MB
    (Side.LINGUAL, True): (3, 4, 5),  # DL, L, ML
    (Side.FACIAL, False): (2, 1, 0),  # MB, B, DB
    (Side.LINGUAL, False): (5, 4, 3),  # ML, L, DL
}


def probing_path(exam: PerioExam, segments: Sequence[Segment]) -> list[tuple[str, int]]:
    """(tooth, site index) in keyboard entry order: each segment's present teeth and sites in its direction."""
    out: list[tuple[str, int]] = []
    for seg in segments:
        row = _ROWS[seg.arch] if seg.right_to_left else _ROWS[seg.arch][::-1]
        for t in row:
            r = exam.teeth.get(t)
            if r is None or r.missing:
                continue
            sites = _SCREEN_SITES[(seg.side, teeth.is_right(t))]
            out.extend((t, i) for i in (sites if seg.right_to_left else sites[::-1]))
    return out


def tooth_path(exam: PerioExam, segments: Sequence[Segment]) -> list[str]:
    """Present teeth in the order the path first reaches them (mobility entry)."""
    return list(dict.fromkeys(t for t, _ in probing_path(exam, segments)))


def furcation_path(exam: PerioExam, segments: Sequence[Segment]) -> list[tuple[str, str]]:
    """(tooth, site) of the furcation sites of present natural teeth, in the order the path passes them."""
    out: list[tuple[str, str]] = []
    for t, i in probing_path(exam, segments):
        if not exam.teeth[t].implant and SITES[i] in teeth.furcation_sites(t):
            out.append((t, SITES[i]))
    return out


# --- staging suggestion ----------------------------------------------------------------------

_STAGES = ("", "I", "II", "III", "IV")
_BAND_FLOOR = {1: 1, 2: 3, 3: 5}  # mm of interdental CAL at which each severity band starts
_MOLAR_INCISOR = frozenset({"16", "26", "36", "46", "11", "12", "21", "22", "31", "32", "41", "42"})
LOCALIZED = "localized"
GENERALIZED = "generalized"
MOLAR_INCISOR = "molar/incisor pattern"
_DEFAULT_GRADE_REASON = (
    "No exam 1+ years earlier to measure progression: grade B assumed (default per 2017 classification)"
)


@dataclass(frozen=True, slots=True)
class StagingSuggestion:
    periodontitis: bool
    stage: str | None  # "I", "II", "III", "IV"
    extent: str | None  # "localized", "generalized", "molar/incisor pattern"
    grade: str | None  # "A", "B", "C"
    reasons: tuple[str, ...]  # plain-language evidence, strongest first
    label: str = "Suggestion only: confirm with radiographs, history and clinical judgement."


def _adjacent(a: str, b: str) -> bool:
    (row_a, col_a), (row_b, col_b) = teeth.display_slot(a), teeth.display_slot(b)
    return row_a == row_b and abs(col_a - col_b) == 1


def _non_adjacent_pair(found: Sequence[str]) -> bool:
    """True when at least two of the teeth are not next to each other in the same arch."""
    return any(not _adjacent(a, b) for k, a in enumerate(found) for b in found[k + 1 :])


def _percent(n: int, d: int) -> str:
    return str((Decimal(n * 100) / Decimal(d)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def suggest_stage_grade(
    exam: PerioExam,
    *,
    age: int | None = None,
    earlier: Sequence[tuple[date, PerioExam]] = (),
    exam_date: date | None = None,
    numbering: teeth.Numbering = teeth.Numbering.FDI,
) -> StagingSuggestion:
    """A stage, extent and grade the readings point to (rules in the module docstring); teeth
    are named in the clinic's numbering."""

    def name(t: str) -> str:
        return teeth.to_label(t, numbering)

    natural = [t for t in exam.present_teeth() if not exam.teeth[t].implant]
    worst_cal: dict[str, int] = {}  # tooth -> greatest interdental CAL
    top_cal: tuple[int, str, str] | None = None  # (mm, tooth, site), first in chart order on ties
    pocketed: list[str] = []  # teeth with an interdental site of CAL >= 1 and PD >= 4
    for t in natural:
        r = exam.teeth[t]
        for i in INTERDENTAL:
            c = r.cal(i)
            if c is None:
                continue
            if c > worst_cal.get(t, c - 1):
                worst_cal[t] = c
            if top_cal is None or c > top_cal[0]:
                top_cal = (c, t, SITES[i])
            if c >= 1 and (r.depth[i] or 0) >= 4 and (not pocketed or pocketed[-1] != t):
                pocketed.append(t)
    # with no margin recorded anywhere CAL is just the probing depth, and a healthy 3 mm sulcus
    # would read as attachment loss: then only loss with a pocket of 4 mm or more counts
    margins_recorded = any(m is not None for t in natural for m in exam.teeth[t].margin)
    lost_3 = [t for t in natural if worst_cal.get(t, 0) >= 3] if margins_recorded else []
    caveat = (
        ()
        if margins_recorded
        else (
            "No gingival margins recorded: CAL is taken as the probing depth, so only sites with pockets "
            "of 4 mm or more count as attachment loss",
        )
    )

    if top_cal is None:
        return StagingSuggestion(False, None, None, None, ("No interdental sites probed: nothing to suggest.",))
    cal_mm, cal_tooth, cal_site = top_cal
    evidence = f"Greatest interdental CAL {cal_mm} mm ({name(cal_tooth)} {cal_site})"
    if not (_non_adjacent_pair(lost_3) or _non_adjacent_pair(pocketed)):
        return StagingSuggestion(
            False,
            None,
            None,
            None,
            (
                "Interdental attachment loss (CAL 3 mm or more, or CAL with a pocket of 4 mm or more) "
                "is not found on 2 or more non-adjacent teeth: no periodontitis suggested",
                evidence,
                *caveat,
            ),
        )

    severity = 1 if cal_mm <= 2 else 2 if cal_mm <= 4 else 3
    stage = severity
    reasons = [f"{evidence}: stage {_STAGES[severity]}", *caveat]

    deepest: tuple[int, str, str] | None = None
    furcation: tuple[int, str, str] | None = None
    mobility: tuple[int, str] | None = None
    for t in natural:
        r = exam.teeth[t]
        for i, d in enumerate(r.depth):
            if d is not None and (deepest is None or d > deepest[0]):
                deepest = (d, t, SITES[i])
        for site in teeth.FURCATION_ORDER:
            g = r.furcation.get(site)
            if g is not None and (furcation is None or g > furcation[0]):
                furcation = (g, t, site)
        if r.mobility is not None and (mobility is None or r.mobility > mobility[0]):
            mobility = (r.mobility, t)
    if deepest is not None and deepest[0] >= 6 and stage < 3:
        stage = 3
        reasons.append(f"Deepest pocket {deepest[0]} mm ({name(deepest[1])} {deepest[2]}): at least stage III")
    elif deepest is not None and deepest[0] == 5 and stage < 2:
        stage = 2
        reasons.append(f"Deepest pocket 5 mm ({name(deepest[1])} {deepest[2]}): at least stage II")
    if furcation is not None and furcation[0] >= 2 and stage < 3:
        stage = 3
        reasons.append(f"Furcation grade {furcation[0]} ({name(furcation[1])} {furcation[2]}): at least stage III")
    if stage == 3:
        if mobility is not None and mobility[0] >= 2:
            stage = 4
            reasons.append(f"Mobility {mobility[0]} on {name(mobility[1])}: stage IV")
        if len(natural) < 20:
            stage = 4
            reasons.append(f"Only {len(natural)} natural teeth remain (fewer than 20): stage IV")

    floor = _BAND_FLOOR[severity]
    involved = [t for t in natural if worst_cal.get(t, 0) >= floor]
    share = f"{len(involved)} of {len(natural)} teeth ({_percent(len(involved), len(natural))}%)"
    if all(t in _MOLAR_INCISOR for t in involved):
        extent = MOLAR_INCISOR
        reasons.append(f"{share} have interdental CAL of {floor} mm or more, all first molars or incisors: {extent}")
    else:
        extent = LOCALIZED if len(involved) * 10 < len(natural) * 3 else GENERALIZED
        reasons.append(f"{share} have interdental CAL of {floor} mm or more: {extent}")

    grade, why = _grade_from_history(exam, earlier, exam_date, name)
    if grade is None:
        if age is not None and age < 35 and stage >= 3:
            grade, why = "C", f"Severe loss for age (stage {_STAGES[stage]} at {age}): grade C"
        else:
            grade, why = "B", why or _DEFAULT_GRADE_REASON
    reasons.append(why)
    return StagingSuggestion(True, _STAGES[stage], extent, grade, tuple(reasons))


def _grade_from_history(
    exam: PerioExam, earlier: Sequence[tuple[date, PerioExam]], exam_date: date | None, name: Callable[[str], str]
) -> tuple[str | None, str]:
    """Grade by attachment lost since the earliest exam a year or more before; None when there is none."""
    if exam_date is None:
        if earlier:
            return None, "No date for this exam, so earlier exams cannot be compared: grade B assumed (default)"
        return None, ""
    old = [(d, e) for d, e in earlier if (exam_date - d).days >= 365]
    if not old:
        return None, ""
    then, before = min(old, key=lambda pair: pair[0])
    days = (exam_date - then).days
    years = (Decimal(days * 4) / Decimal(1461)).quantize(_TENTH, rounding=ROUND_HALF_UP)  # 365.25-day years
    rise: tuple[int, str, str] | None = None
    for t, i, _db, _da, cb, ca in _probed_pairs(before, exam, natural_only=True):
        if rise is None or ca - cb > rise[0]:
            rise = (ca - cb, t, SITES[i])
    if rise is None:
        return None, ""
    mm, t, site = rise
    if mm <= 0:
        return "A", f"No attachment loss at any site over {years} years: grade A"
    per_5_years = Fraction(mm * 5 * 1461, days * 4)
    scaled = (Decimal(per_5_years.numerator) / Decimal(per_5_years.denominator)).quantize(
        _TENTH, rounding=ROUND_HALF_UP
    )
    grade = "C" if per_5_years >= 2 else "B"
    return grade, f"CAL up {mm} mm at {name(t)} {site} over {years} years ({scaled} mm per 5 years): grade {grade}"
