"""Synthetic clinical records for the demo clinic: every patient's tooth chart, the work done at
their completed visits, treatment plans, insurance benefits, perio exams and signed notes.

Like the rest of the demo everything is invented and generated from one seeded random stream,
so the same seed and day give the same charts. No service or ORM object is used per row: rows
are built as dicts already in their stored form (the text demo._bulk_insert writes for dates
and instants), inserted with one executemany per table, and logged with demo._changes, about
130,000 chart entries for 10,000 patients in under 10 seconds. What a chart holds follows the
patient's age and visits:

- under 6: primary teeth only; 6-12: the mixed dentition (first molars, incisors, primary
  canines and molars); 13 and over: permanent teeth, third molars often missing or impacted,
  and with age more missing teeth, fillings, crowns, root canals, an implant or a bridge.
- existing work is dated before the first visit and has no provider; completed work comes
  from the patient's completed appointments (provider, local date, appointment), and a
  filling always treats a lesion that is then no longer charted as caries.
- plans, perio exams and notes are built on that chart, so they agree with it: a planned
  filling sits on charted caries, a perio exam leaves out the teeth the chart says are gone.
"""

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, select
from sqlalchemy.orm import Session

from app.db.models import (
    Appointment,
    AppointmentType,
    Base,
    ChangeLog,
    ChartEntry,
    Clinic,
    ClinicalNote,
    InsuranceBenefits,
    MedicalAlert,
    NoteAddendum,
    NoteProcedure,
    NoteTemplate,
    Patient,
    PatientInsurance,
    PatientRecall,
    PerioExam,
    ProcedureCode,
    RecallType,
    StaffUser,
    TreatmentPlan,
    TreatmentPlanItem,
)
from app.domain import teeth
from app.domain.catalogue import shipped_conditions, shipped_procedures
from app.domain.dates import age_on
from app.domain.ids import new_id
from app.domain.perio import PerioExam as PerioReadings
from app.domain.permissions import Role
from app.services.clinical_notes import ANAESTHETIC, SHIPPED_TEMPLATES, shipped_template_id
from app.services.demo import HYGIENE_TYPES, _changes, _utc_text

# --- teeth ---------------------------------------------------------------------------------------

_POS = {t: teeth.position(t) for t in teeth.ALL_TEETH}
_THIRD_MOLARS = ("18", "28", "38", "48")
_FIRST_MOLARS = ("16", "26", "36", "46")
_SECOND_MOLARS = ("17", "27", "37", "47")
_MIXED = teeth.teeth_for(teeth.Dentition.MIXED)
_PRIMARY_MOLARS = tuple(t for t in teeth.PRIMARY if _POS[t] >= 4)
_PRIMARY_FRONT = tuple(t for t in teeth.PRIMARY if _POS[t] <= 2)
_QUADRANTS = {1: "UR", 2: "UL", 3: "LL", 4: "LR"}
_POSTERIOR = tuple(t for t in teeth.PERMANENT if _POS[t] >= 4)
_KIND = {t: "molar" if _POS[t] >= 6 else "premolar" if _POS[t] >= 4 else "front" for t in teeth.PERMANENT}


def _depth_tables() -> dict[tuple[str, str], tuple[tuple[int, ...], ...]]:
    """Probing depths (mm) to draw from at each of the six sites (DB, B, MB, DL, L, ML), by mouth and tooth."""
    gap, mid = (2,) * 12 + (3,) * 12, (1, 2, 2)
    out: dict[tuple[str, str], tuple[tuple[int, ...], ...]] = {}
    for kind in ("molar", "premolar", "front"):
        healthy_gap = (*gap, 4) if kind == "molar" else gap  # now and then a 4 between molars
        out["healthy", kind] = (healthy_gap, mid, healthy_gap, healthy_gap, mid, healthy_gap)
        pocket = {"molar": (4, 5, 5, 6, 6, 7), "premolar": (3, 3, 4, 4, 5), "front": (2, 3, 3, 4)}[kind]
        out["perio", kind] = (pocket, (2, 3, 3, 4), pocket, pocket, (2, 3, 3, 4), pocket)
        out["implant", kind] = ((2, 3, 3, 4),) * 6
    return out


_DEPTHS = _depth_tables()
# how likely a tooth is to have been lost, by position (1 central incisor .. 7 second molar);
# over 65 the lower incisors go more often
_LOSS_WEIGHT = {1: 1.0, 2: 1.0, 3: 0.4, 4: 2.0, 5: 2.0, 6: 5.0, 7: 4.0}
_LOSABLE = tuple(t for t in teeth.PERMANENT if _POS[t] <= 7)
_LOSING = tuple(accumulate(_LOSS_WEIGHT[_POS[t]] for t in _LOSABLE))
_LOSING_OLD = tuple(accumulate(_LOSS_WEIGHT[_POS[t]] * (1.5 if t in ("31", "32", "41", "42") else 1) for t in _LOSABLE))

# visit types (demo._APPOINTMENT_TYPES) whose visit includes an examination
_EXAM_TYPES = frozenset({"New patient exam", "Recall & cleaning", "Perio maintenance", "Emergency", "Consult"})
# the note template each visit type is written from
_TEMPLATE_FOR = {
    "New patient exam": "comprehensive-exam",
    "Consult": "comprehensive-exam",
    "Recall & cleaning": "hygiene-visit",
    "Perio maintenance": "perio-maintenance",
    "Filling": "restorative",
    "Crown prep": "restorative",
    "Root canal": "restorative",
    "Extraction": "extraction",
    "Emergency": "emergency-exam",
}
NOTE_DAYS = 90  # completed visits this recent get a signed note

_COVERAGE = {
    "diagnostic": 100,
    "preventive": 100,
    "restorative": 80,
    "endodontics": 80,
    "periodontics": 80,
    "oral_surgery": 80,
    "prosthodontics": 50,
    "implants": 50,
    "orthodontics": 50,
}

_COVERAGE_JSON = tuple(
    json.dumps(dict(sorted((_COVERAGE | basic).items())))
    for basic in ({}, {"restorative": 70, "endodontics": 70, "periodontics": 70, "oral_surgery": 70})
)

_ADDENDA = (
    "Patient phoned: no post-op pain.",
    "Patient phoned the next day: mild tenderness, settling. Advised over-the-counter pain relief as needed.",
    "Patient phoned: no post-op pain; happy with the result.",
)
_CROWN_ADDENDUM = "Lab confirmed receipt of the impression; crown due back in 10 working days."


@dataclass(slots=True)
class _Visit:
    """A completed appointment, read back from the book."""

    id: str
    provider_id: str
    role: str
    type_name: str
    day: date
    ends_at: datetime
    ends_text: str  # ends_at as stored


@dataclass(slots=True)
class _Patient:
    id: str
    dob: date
    age: int
    visits: list[_Visit]
    insured: bool
    recall_last: date | None
    alerts: list[str]
    perio: bool = False
    exams: int = 0  # perio exams to record: 0, 1 or 2
    exam_day: date | None = None  # of the first one


@dataclass(slots=True)
class _Mouth:
    """What the chart says is in the mouth, kept up to date as entries are made."""

    present: set[str]  # natural teeth in the mouth (implants are kept apart)
    missing: set[str] = field(default_factory=set)
    impacted: dict[str, str] = field(default_factory=dict)  # tooth -> "impacted" or "unerupted", charted at the end
    buried: set[str] = field(default_factory=set)  # were impacted or unerupted: never probed
    implants: set[str] = field(default_factory=set)
    pontics: set[str] = field(default_factory=set)
    abutments: set[str] = field(default_factory=set)
    crowns: set[str] = field(default_factory=set)
    rct: set[str] = field(default_factory=set)
    fillings: dict[str, str] = field(default_factory=dict)  # tooth -> surfaces
    sealed: set[str] = field(default_factory=set)
    fractured: set[str] = field(default_factory=set)
    extracted: dict[str, date] = field(default_factory=dict)  # this year, at a visit
    lesions: dict[str, str] = field(default_factory=dict)  # caries found: tooth -> surfaces
    watch: dict[str, str] = field(default_factory=dict)  # tooth -> why
    treated: set[str] = field(default_factory=set)  # teeth worked on at this year's visits

    def restorable(self, t: str) -> bool:
        """A natural tooth that can still take a filling."""
        return t in self.present and t not in self.crowns and t not in self.abutments


@dataclass(slots=True)
class _Done:
    """What happened at one completed visit: its entries and what the note says about them."""

    visit: _Visit
    entries: list[dict[str, Any]]
    tooth: str | None = None
    surfaces: str = ""
    detail: str = ""  # a word the note uses: "surgical", "zirconia", "pulpotomy", ...


def _surfaces(*letters: str) -> str:
    return teeth.join_surfaces(letters)


_Weighted = tuple[tuple[str, ...], tuple[float, ...]]


def _weighted(*pairs: tuple[str, float]) -> _Weighted:
    """(values, cumulative weights) for random.choices, worked out once."""
    return tuple(v for v, _ in pairs), tuple(accumulate(w for _, w in pairs))


# existing fillings: occlusal, mesio-occlusal, disto-occlusal, mesio-occluso-distal
_FILLINGS = _weighted(
    (_surfaces("O"), 4), (_surfaces("M", "O"), 2), (_surfaces("D", "O"), 2), (_surfaces("M", "O", "D"), 2)
)
_SMALL_FILLINGS = _weighted((_surfaces("O"), 4), (_surfaces("M", "O"), 2), (_surfaces("D", "O"), 2))
_PREMOLAR_FILLINGS = _weighted((_surfaces("M", "O"), 2), (_surfaces("D", "O"), 2), (_surfaces("M", "O", "D"), 2))
_LESIONS = _weighted(
    (_surfaces("O"), 4), (_surfaces("M", "O"), 2), (_surfaces("D", "O"), 2), (_surfaces("M"), 1), (_surfaces("D"), 1)
)


def _cap(text: str) -> str:
    """The first letter in capitals, the rest as it is ("tooth 3 MO" -> "Tooth 3 MO")."""
    return text[:1].upper() + text[1:]


def _pick(rng: random.Random, weighted: _Weighted) -> str:
    return rng.choices(weighted[0], cum_weights=weighted[1])[0]


def _count(rng: random.Random, cum_weights: tuple[int, ...]) -> int:
    """0, 1, 2, ... drawn with the given cumulative weights."""
    return rng.choices(range(len(cum_weights)), cum_weights=cum_weights)[0]


def _instant(at: datetime) -> str:
    """An instant as UtcDateTime stores it."""
    text = _utc_text(at)
    assert text is not None
    return text


def _utc(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz).astimezone(UTC)


class _Seeder:
    def __init__(self, s: Session, *, today: date, now: datetime, tz: ZoneInfo, rng: random.Random) -> None:
        self.s = s
        self.today = today
        self.now = now
        self.tz = tz
        self.rng = rng
        self.procs = self._catalogue()
        self.conditions = {c.code: (c.label, c.draw) for c in shipped_conditions()}
        self.numbering = teeth.Numbering(s.scalar(select(Clinic.tooth_numbering).limit(1)) or "universal")
        staff = s.execute(
            select(StaffUser.id, StaffUser.role)
            .where(StaffUser.active.is_(True), StaffUser.deleted_at.is_(None))
            .order_by(StaffUser.username)
        ).all()
        self.dentists = [i for i, r in staff if r == Role.DENTIST.value]
        self.hygienists = [i for i, r in staff if r == Role.HYGIENIST.value] or self.dentists
        self.templates = self._templates()
        # 256 ready-drawn sets of six probing depths for each kind of tooth in each kind of mouth
        self.patterns = {
            key: tuple(tuple(table[int(rng.random() * len(table))] for table in tables) for _ in range(256))
            for key, tables in _DEPTHS.items()
        }
        self.entries: list[dict[str, Any]] = []
        self.plans: list[dict[str, Any]] = []
        self.items: list[dict[str, Any]] = []
        self.benefits: list[dict[str, Any]] = []
        self.exams: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []
        self.addenda: list[dict[str, Any]] = []
        self.signatures: list[tuple[str, str]] = []  # (signed_at, note id)
        self.alternatives = 0
        self._days: dict[date, str] = {}

    # --- reference data ------------------------------------------------------------------

    def _catalogue(self) -> dict[str, tuple[str, str, int, str]]:
        """code -> (description, category, fee, draw): the clinic's catalogue over the shipped one."""
        procs = {p.code: (p.description, str(p.category), p.fee_cents, p.draw) for p in shipped_procedures()}
        for code, description, category, fee, draw in self.s.execute(
            select(
                ProcedureCode.code,
                ProcedureCode.description,
                ProcedureCode.category,
                ProcedureCode.fee_cents,
                ProcedureCode.draw,
            ).where(ProcedureCode.active.is_(True), ProcedureCode.deleted_at.is_(None))
        ):
            procs[code] = (description, category, fee, draw)
        return procs

    def _templates(self) -> dict[str, list[str]]:
        """Template key -> its section headings, as the clinic's copy of each shipped template has them."""
        stored = dict(self.s.execute(select(NoteTemplate.id, NoteTemplate.body)).all())
        out: dict[str, list[str]] = {}
        for key, _name, body in SHIPPED_TEMPLATES:
            text = stored.get(shipped_template_id(key)) or body
            out[key] = [line[:-1] for line in text.splitlines() if line.endswith(":")]
        return out

    def load(self) -> list[_Patient]:
        """Every patient (archived ones too) in chart order, with their completed visits."""
        s = self.s
        insured = set(s.scalars(select(PatientInsurance.patient_id).where(PatientInsurance.deleted_at.is_(None))))
        recall_last: dict[str, date] = {}
        for pid, last in s.execute(
            select(PatientRecall.patient_id, PatientRecall.last_completed)
            .join(RecallType, RecallType.id == PatientRecall.recall_type_id)
            .where(RecallType.code.in_(("PROPHY", "PERIO")), PatientRecall.last_completed.is_not(None))
        ):
            if last is not None and (pid not in recall_last or recall_last[pid] < last):
                recall_last[pid] = last
        alerts: dict[str, list[str]] = defaultdict(list)
        for pid, kind, description in s.execute(
            select(MedicalAlert.patient_id, MedicalAlert.kind, MedicalAlert.description)
            .where(MedicalAlert.deleted_at.is_(None))
            .order_by(MedicalAlert.patient_id, MedicalAlert.description)
        ):
            alerts[pid].append(f"{description} ({kind})")
        roles = dict(s.execute(select(StaffUser.id, StaffUser.role)).all())
        visits: dict[str, list[_Visit]] = defaultdict(list)
        for aid, pid, provider, type_name, starts_at, ends_at in s.execute(
            select(
                Appointment.id,
                Appointment.patient_id,
                Appointment.provider_id,
                AppointmentType.name,
                Appointment.starts_at,
                Appointment.ends_at,
            )
            .join(AppointmentType, AppointmentType.id == Appointment.appointment_type_id)
            .where(
                Appointment.status == "completed",
                Appointment.deleted_at.is_(None),
                Appointment.starts_at.is_not(None),
                Appointment.ends_at <= self.now,
            )
            .order_by(Appointment.starts_at)  # a patient is never booked twice at once
        ):
            if starts_at is None or ends_at is None:
                continue
            day = starts_at.astimezone(self.tz).date()
            if day <= self.today:
                visits[pid].append(
                    _Visit(aid, provider, roles.get(provider, ""), type_name, day, ends_at, _instant(ends_at))
                )
        return [
            _Patient(
                pid,
                dob,
                age_on(dob, self.today),
                visits.get(pid, []),
                pid in insured,
                recall_last.get(pid),
                alerts[pid],
            )
            for pid, dob in s.execute(
                select(Patient.id, Patient.date_of_birth)
                .where(Patient.deleted_at.is_(None))
                .order_by(cast(Patient.chart_no, Integer))
            )
        ]

    # --- who is a perio patient, who has perio exams ------------------------------------------

    def choose_perio(self, people: list[_Patient]) -> None:
        """12% of adults are perio patients, mostly those in perio maintenance. Of the adults of 25
        and over seen for hygiene, about 40% have an exam from about a year ago (every perio patient
        among them), and about half of those a second, more recent one."""
        rng = self.rng
        adults = [p for p in people if p.age >= 18]
        if not adults:
            return

        def _fits(p: _Patient) -> bool:
            return p.age >= 25 and any(v.type_name == "Perio maintenance" for v in p.visits)

        # a lottery weighted four to one towards patients in perio maintenance
        tickets = sorted(
            (rng.random() * (0.25 if _fits(p) else 1.0), n) for n, p in enumerate(adults) if p.age >= 30 or _fits(p)
        )
        for _, n in tickets[: round(0.12 * len(adults))]:
            adults[n].perio = True
        eligible = [p for p in adults if p.age >= 25 and (self._hygiene(p) or p.recall_last)]
        sure = sum(p.perio for p in eligible)  # every perio patient seen for hygiene is examined
        rest = len(eligible) - sure
        p_first = max(0.0, min(1.0, (0.4 * len(eligible) - sure) / rest)) if rest else 0.0
        examined = [p for p in eligible if p.perio or rng.random() < p_first]
        seen = [p for p in examined if self._hygiene(p)]
        sure = sum(p.perio for p in seen)
        rest = len(seen) - sure
        p_second = max(0.0, min(1.0, (0.5 * len(examined) - sure) / rest)) if rest else 0.0
        for p in examined:
            p.exams = 2 if self._hygiene(p) and (p.perio or rng.random() < p_second) else 1

    @staticmethod
    def _hygiene(p: _Patient) -> list[_Visit]:
        return [v for v in p.visits if v.type_name in HYGIENE_TYPES]

    # --- rows ----------------------------------------------------------------------------------

    def _entry(
        self,
        pid: str,
        code: str,
        day: date,
        *,
        tooth: str | None = None,
        surfaces: str = "",
        region: str = "",
        status: str = "existing",
        visit: _Visit | None = None,
        provider: str | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        """A chart entry row: a procedure from the catalogue, or (status "condition") a finding."""
        if status == "condition":
            label, draw = self.conditions[code]
            kind, description, category, fee = "condition", label, "", 0
        else:
            description, category, fee, draw = self.procs[code]
            kind = "procedure"
        row = {
            **_new_row(),
            "patient_id": pid,
            "kind": kind,
            "code": code,
            "description": description,
            "category": category,
            "draw": draw,
            "tooth": tooth,
            "surfaces": surfaces,
            "region": region,
            "status": status,
            "fee_cents": fee,
            "provider_id": visit.provider_id if visit else provider,
            "entry_date": self._day(visit.day if visit else day),
            "completed_at": visit.ends_text if visit and status == "completed" else None,
            "appointment_id": visit.id if visit and status == "completed" else None,
            "note": note,
            "removed_reason": "",
        }
        self.entries.append(row)
        return row

    def _plan(
        self,
        pid: str,
        name: str,
        group: str,
        status: str,
        proposed: date,
        created_by: str | None,
        *,
        accepted: date | None = None,
        declined: date | None = None,
        completed: date | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        row = {
            **_new_row(),
            "patient_id": pid,
            "name": name,
            "option_group": group,
            "status": status,
            "proposed_on": self._day(proposed),
            "accepted_on": accepted and self._day(accepted),
            "declined_on": declined and self._day(declined),
            "completed_on": completed and self._day(completed),
            "status_reason": reason,
            "created_by": created_by,
            "note": "",
        }
        self.plans.append(row)
        return row

    def _item(self, plan: dict[str, Any], entry: dict[str, Any], phase: int, priority: int) -> None:
        self.items.append(
            {
                **_new_row(),
                "plan_id": plan["id"],
                "chart_entry_id": entry["id"],
                "phase": phase,
                "priority": priority,
            }
        )

    # --- one patient ----------------------------------------------------------------------------

    def patient(self, p: _Patient) -> None:
        first = p.visits[0].day if p.visits else self.today
        if p.exams:
            # about a year ago, before the year of bookings; or at the last cleaning before it
            if self._hygiene(p):
                p.exam_day = max(p.dob, self.today - timedelta(days=self.rng.randint(330, 400)))
            else:
                p.exam_day = p.recall_last
            first = min(first, p.exam_day or first)  # what the exam found was there already
        if p.age < 6:
            mouth = _Mouth(set(teeth.PRIMARY) if p.age >= 2 else set(_PRIMARY_FRONT))
            self._primary_history(p, mouth, first)
        elif p.age <= 12:
            mouth = _Mouth(set(_MIXED))
            self._mixed_history(p, mouth, first)
        else:
            mouth = _Mouth(set(teeth.PERMANENT))
            self._permanent_history(p, mouth, first)
        done = [self._visit(p, mouth, v) for v in p.visits]
        self._findings(p, mouth, first)
        if p.age >= 18:
            self._completed_plan(p, done)
            self._open_plans(p, mouth)
        if p.insured:
            self._benefits(p)
        if p.exams:
            self._perio_exams(p, mouth)
        cutoff = self.today - timedelta(days=NOTE_DAYS)
        for d in done:
            if d.visit.day >= cutoff:
                self._note(p, mouth, d)

    def _day(self, day: date) -> str:
        """A date as stored (IsoDate); a few thousand distinct days are formatted once each."""
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = day.isoformat()
        return text

    def _past(self, p: _Patient, first: date, *, min_age: float, years: float = 8) -> date | None:
        """A day before the first visit (some months to `years` years before), once the patient was `min_age`."""
        earliest = p.dob.toordinal() + int(min_age * 365.25)
        latest = first.toordinal() - 30
        if latest < earliest:
            return None
        day = latest - 60 - int(self.rng.random() * (years * 365 - 90))
        return date.fromordinal(min(max(day, earliest), latest))

    def _existing(
        self, p: _Patient, first: date, code: str, tooth: str, surfaces: str = "", min_age: float = 7, *also: str
    ) -> bool:
        """Work done before the first visit (with `also`, further codes on the tooth the same day)."""
        day = self._past(p, first, min_age=min_age)
        if day is None:
            return False
        self._entry(p.id, code, day, tooth=tooth, surfaces=surfaces)
        for more in also:
            self._entry(p.id, more, day, tooth=tooth)
        return True

    def _finding(self, p: _Patient, first: date, code: str, tooth: str, surfaces: str = "", note: str = "") -> None:
        day = self._past(p, first, min_age=0, years=3) or p.dob
        self._entry(p.id, code, day, tooth=tooth, surfaces=surfaces, status="condition", note=note)

    def _primary_history(self, p: _Patient, m: _Mouth, first: date) -> None:
        rng = self.rng
        if p.age >= 3 and rng.random() < 0.12:
            t = rng.choice(_PRIMARY_MOLARS)
            shape = _pick(rng, _SMALL_FILLINGS)
            if self._existing(p, first, self._filling_code(t, shape, False), t, shape, min_age=2.5):
                m.fillings[t] = shape
        if p.age >= 2:
            self._lesions(m, _count(rng, (70, 90, 100)), _PRIMARY_MOLARS + _PRIMARY_FRONT)

    def _mixed_history(self, p: _Patient, m: _Mouth, first: date) -> None:
        rng = self.rng
        if rng.random() < 0.45:
            for t in _FIRST_MOLARS:
                if rng.random() < 0.85 and self._existing(p, first, "PV130", t, min_age=6.5):
                    m.sealed.add(t)
        if rng.random() < 0.15:
            t = rng.choice([x for x in _PRIMARY_MOLARS if x in m.present])
            shape = _pick(rng, _SMALL_FILLINGS)
            if self._existing(p, first, self._filling_code(t, shape, False), t, shape, min_age=3):
                m.fillings[t] = shape
        self._lesions(m, _count(rng, (65, 90, 100)), _PRIMARY_MOLARS + _FIRST_MOLARS)
        clear = [x for x in _FIRST_MOLARS if x not in m.lesions and x not in m.sealed]
        if clear and rng.random() < 0.1:
            m.watch[rng.choice(clear)] = "Stained fissures: review at recall."

    def _permanent_history(self, p: _Patient, m: _Mouth, first: date) -> None:
        rng, age = self.rng, p.age
        # third molars
        if age < 18:
            for t in _THIRD_MOLARS:
                if rng.random() < 0.5:
                    m.present.discard(t)
                    m.impacted[t] = "unerupted"
                    m.buried.add(t)
        else:
            all_out = rng.random() < (0.3 if age < 25 else 0.42)
            for t in _THIRD_MOLARS:
                r = rng.random()
                if all_out or r < (0.3 if age < 25 else 0.35):
                    m.present.discard(t)
                    m.missing.add(t)
                    self._finding(p, first, "missing", t)
                elif r < (0.55 if age < 25 else 0.5) or (t[0] in "34" and r < 0.6):
                    m.present.discard(t)
                    m.impacted[t] = "impacted"
                    m.buried.add(t)
        # other teeth lost over the years, replaced now and then by an implant or a bridge
        mean = 0.0 if age < 18 else 0.2 if age < 35 else 0.7 if age < 50 else 1.7 if age < 65 else 3.2
        if p.perio:
            mean += 1.0
        lost = min(12, int(rng.expovariate(1 / mean) + 0.5)) if mean else 0
        losing = _LOSING_OLD if age >= 65 else _LOSING
        gone: set[str] = set()
        while len(gone) < lost:
            gone.add(rng.choices(_LOSABLE, cum_weights=losing)[0])
        implants = bridges = 0
        for t in sorted(gone):
            m.present.discard(t)
            q, pos = int(t[0]), _POS[t]
            before, after = f"{q}{pos - 1}", f"{q}{pos + 1}"
            if age >= 30 and implants < 2 and rng.random() < 0.1:
                if self._existing(p, first, "IM100", t, "", 20, "IM130"):
                    m.implants.add(t)
                    implants += 1
                    continue
            elif (
                age >= 30
                and bridges < 1
                and 2 <= pos <= 6
                and before in m.present
                and after in m.present
                and not {before, after} & (gone | m.abutments)
                and rng.random() < 0.25
            ):
                day = self._past(p, first, min_age=20)
                if day is not None:
                    ceramic = rng.random() < 0.5
                    self._entry(p.id, "PR230" if ceramic else "PR220", day, tooth=before)
                    self._entry(p.id, "PR210" if ceramic else "PR200", day, tooth=t)
                    self._entry(p.id, "PR230" if ceramic else "PR220", day, tooth=after)
                    m.pontics.add(t)
                    m.abutments.update((before, after))
                    bridges += 1
                    continue
            m.missing.add(t)
            self._finding(p, first, "missing", t)
        # crowns, root canals and fillings on the teeth still there
        band = 0 if age < 18 else 1 if age < 30 else 2 if age < 50 else 3 if age < 65 else 4
        crown_p = (0.0, 0.0, 0.04, 0.08, 0.12)[band]
        fill_molar = (0.12, 0.18, 0.3, 0.38, 0.4)[band]
        fill_premolar = (0.02, 0.05, 0.1, 0.15, 0.18)[band]
        amalgam_era = age > 40 and rng.random() < 0.55
        for t in teeth.PERMANENT:
            if t not in m.present or t in m.abutments:
                continue
            pos = _POS[t]
            molar = pos >= 6
            r = rng.random()
            if pos >= 4 and r < crown_p * (1 if molar else 0.5):
                crown = "RS310" if amalgam_era else "RS300"
                if rng.random() < 0.45:  # root canal treated, then crowned
                    if self._existing(p, first, self._rct_code(t), t, "", 18, crown):
                        m.crowns.add(t)
                        m.rct.add(t)
                elif self._existing(p, first, crown, t, min_age=18):
                    m.crowns.add(t)
                continue
            if pos >= 4 and r < crown_p + (fill_molar if molar else fill_premolar):
                shape = _pick(rng, _FILLINGS if molar else _PREMOLAR_FILLINGS)
                code = self._filling_code(t, shape, amalgam_era)
                if band >= 2 and len(shape) == 3 and rng.random() < 0.08:
                    # a root canal sealed with a large filling, still waiting for its crown
                    day = self._past(p, first, min_age=18)
                    if day is not None:
                        self._entry(p.id, self._rct_code(t), day, tooth=t)
                        self._entry(p.id, code, day, tooth=t, surfaces=shape)
                        m.fillings[t] = shape
                        m.rct.add(t)
                elif self._existing(p, first, code, t, shape):
                    m.fillings[t] = shape
                continue
            if pos <= 3 and band >= 2 and r < 0.03:
                shape = rng.choice((_surfaces("M"), _surfaces("D"), _surfaces("M", "B"), _surfaces("D", "B")))
                if self._existing(p, first, self._filling_code(t, shape, False), t, shape, min_age=12):
                    m.fillings[t] = shape
        if age < 26 and rng.random() < 0.35:
            for t in _FIRST_MOLARS + _SECOND_MOLARS:
                if t in m.present and t not in m.fillings and t not in m.crowns:
                    if self._existing(p, first, "PV130", t, min_age=6.5 if t in _FIRST_MOLARS else 12):
                        m.sealed.add(t)
        self._lesions(m, _count(rng, (65, 90, 100) if age < 18 else (50, 75, 90, 100)), _POSTERIOR)
        if age >= 30 and rng.random() < 0.03:
            big = [t for t, s in m.fillings.items() if len(s) >= 2 and t not in m.lesions and t not in m.rct]
            if big:
                t = rng.choice(sorted(big))
                m.fractured.add(t)
        if rng.random() < 0.15:
            spots = [t for t in _POSTERIOR if t in m.present and t not in m.lesions and t not in m.crowns | m.abutments]
            for t in rng.sample(spots, min(len(spots), rng.choice((1, 1, 2)))):
                why = rng.choice(
                    ("Stained fissures: review at recall.", "Early interproximal shadow on bitewing: monitor.")
                )
                m.watch[t] = why

    def _lesions(self, m: _Mouth, count: int, where: tuple[str, ...]) -> None:
        """`count` carious lesions on restorable teeth among `where` (their condition rows come later)."""
        rng = self.rng
        spots = [t for t in where if m.restorable(t) and t not in m.lesions]
        for t in rng.sample(spots, min(count, len(spots))):
            m.lesions[t] = self._lesion_shape(m, t)

    def _lesion_shape(self, m: _Mouth, t: str) -> str:
        rng = self.rng
        if teeth.is_anterior(t):
            return rng.choice((_surfaces("M"), _surfaces("D"), _surfaces("B")))
        filled = m.fillings.get(t)
        if filled and len(filled) < 3:
            # recurrent decay at the margin of the old filling
            return _surfaces(*(set(filled) | {rng.choice("MD")}))
        return _pick(rng, _LESIONS)

    # --- codes ------------------------------------------------------------------------------------

    @staticmethod
    def _filling_code(t: str, shape: str, amalgam: bool) -> str:
        n = len(shape)
        if teeth.is_anterior(t):
            return "RS240" if n == 1 else "RS250"
        codes = ("RS100", "RS110", "RS120", "RS130") if amalgam else ("RS200", "RS210", "RS220", "RS230")
        return codes[min(n, 4) - 1]

    @staticmethod
    def _rct_code(t: str) -> str:
        kind = teeth.kind(t)
        return "EN120" if kind == teeth.ToothKind.MOLAR else "EN110" if kind == teeth.ToothKind.PREMOLAR else "EN100"

    # --- completed visits ------------------------------------------------------------------------

    def _visit(self, p: _Patient, m: _Mouth, v: _Visit) -> _Done:
        """The work charted at one completed visit, on what the chart says is there that day."""
        rng = self.rng
        age = age_on(p.dob, v.day)
        child = age < 14
        done = _Done(v, [])

        def add(code: str, tooth: str | None = None, surfaces: str = "", region: str = "") -> dict[str, Any]:
            row = self._entry(
                p.id, code, v.day, tooth=tooth, surfaces=surfaces, region=region, status="completed", visit=v
            )
            done.entries.append(row)
            if tooth:
                m.treated.add(tooth)
            return row

        kind = v.type_name
        if kind in HYGIENE_TYPES:
            if kind == "Perio maintenance" and not child:
                add("PE130")
                if rng.random() < 0.5:
                    add("EX100")
            else:
                add("EX100")
                add("PV110" if child else "PV100")
                if child and rng.random() < 0.8:
                    add("PV120")
                if age >= 4 and rng.random() < 0.4:
                    add("XR120" if child else "XR130")
                if 6 <= age <= 14:
                    open_molars = [
                        t for t in _FIRST_MOLARS if t in m.present and t not in m.sealed and t not in m.fillings
                    ]
                    if open_molars and rng.random() < 0.3:
                        for t in open_molars:
                            if t not in m.lesions:
                                add("PV130", t)
                                m.sealed.add(t)
        elif kind == "New patient exam":
            add("EX120")
            r = rng.random()
            if child:
                if age >= 4:
                    add("XR120")
            elif r < 0.5:
                add("XR100")
            elif r < 0.8:
                add("XR110")
                add("XR130")
            else:
                add("XR130")
        elif kind == "Emergency":
            add("EX110")
            sore = self._sore_tooth(m, child)
            if sore and age >= 4:
                add("XR140", sore)
            done.tooth = sore
            if rng.random() < 0.35 or not sore:
                add("AD100")
                done.detail = "palliative"
        elif kind == "Consult":
            if 9 <= age <= 17 and rng.random() < 0.4:
                add("OR100")
                done.detail = "orthodontic"
        elif kind == "Filling":
            self._filling_visit(m, done, add, age)
        elif kind in ("Crown prep", "Root canal"):
            self._endo_or_crown(m, done, add, age, kind)
        elif kind == "Extraction":
            self._extraction_visit(m, v, done, add, age)
        return done

    def _sore_tooth(self, m: _Mouth, child: bool) -> str | None:
        rng = self.rng
        if m.lesions:
            return rng.choice(sorted(m.lesions))
        pool = sorted(t for t in m.present if _POS[t] >= 4 and (child or not teeth.is_primary(t)))
        return rng.choice(pool) if pool else None

    def _filling_visit(self, m: _Mouth, done: _Done, add: Any, age: int) -> None:
        rng = self.rng
        lesion = self._take_lesion(m, age)
        if lesion is None:
            done.detail = "none"
            return
        t, shape = lesion
        add(self._filling_code(t, shape, False), t, shape)
        m.fillings[t] = _surfaces(*(set(m.fillings.get(t, "")) | set(shape)))
        done.tooth, done.surfaces = t, shape
        # a second filling in the same quadrant now and then
        same_side = sorted(x for x in m.lesions if teeth.quadrant(x) == teeth.quadrant(t))
        if same_side and rng.random() < 0.4:
            t2 = same_side[0]
            shape2 = m.lesions.pop(t2)
            add(self._filling_code(t2, shape2, False), t2, shape2)
            m.fillings[t2] = _surfaces(*(set(m.fillings.get(t2, "")) | set(shape2)))
            done.detail = f"{t2} {shape2}"

    def _take_lesion(self, m: _Mouth, age: int) -> tuple[str, str] | None:
        """A lesion to treat: one charted earlier if there is one, else one found at this visit."""
        rng = self.rng
        if m.lesions:
            t = rng.choice(sorted(m.lesions))
            return t, m.lesions.pop(t)
        if age < 2:
            pool = sorted(t for t in _PRIMARY_FRONT if m.restorable(t))
        else:
            pool = sorted(t for t in m.present if _POS[t] >= 4 and m.restorable(t))
        if not pool:
            return None
        t = rng.choice(pool)
        return t, self._lesion_shape(m, t)

    def _endo_or_crown(self, m: _Mouth, done: _Done, add: Any, age: int, kind: str) -> None:
        rng = self.rng
        if age < 13 or not any(not teeth.is_primary(t) for t in m.present):
            # a child's "crown" or "root canal" is a pulpotomy on a primary molar
            molars = sorted(t for t in m.present if t in _PRIMARY_MOLARS and t not in m.rct)
            if not molars or age < 2:
                add("EX110")
                add("AD100")
                done.detail = "palliative"
                return
            t = next((x for x in molars if x in m.lesions), rng.choice(molars))
            m.lesions.pop(t, None)
            add("EN140", t)
            m.rct.add(t)
            done.tooth, done.detail = t, "pulpotomy"
            return
        natural = sorted(t for t in m.present if not teeth.is_primary(t) and t not in m.crowns and t not in m.abutments)
        if not natural:
            add("EX110")
            done.detail = "none"
            return
        if kind == "Root canal":
            deep = [t for t in natural if t in m.lesions and t not in m.rct]
            pool = deep or [t for t in natural if t not in m.rct and _POS[t] >= 4] or natural
            t = rng.choice(pool)
            m.lesions.pop(t, None)
            add(self._rct_code(t), t)
            m.rct.add(t)
            done.tooth = t
            return
        pool = (
            [t for t in natural if t in m.rct]
            or sorted(m.fractured & set(natural))
            or [t for t in natural if len(m.fillings.get(t, "")) >= 3]
            or [t for t in natural if _POS[t] >= 4]
            or natural
        )
        t = rng.choice(pool)
        m.lesions.pop(t, None)
        m.fractured.discard(t)
        if t in m.fillings and rng.random() < 0.4:
            add("RS340", t)
        zirconia = rng.random() < 0.6
        add("RS300" if zirconia else "RS310", t)
        m.crowns.add(t)
        done.tooth, done.detail = t, "zirconia" if zirconia else "porcelain fused to metal"

    def _extraction_visit(self, m: _Mouth, v: _Visit, done: _Done, add: Any, age: int) -> None:
        rng = self.rng
        if age < 13:
            pool = sorted(t for t in m.present if teeth.is_primary(t))
            if not pool:
                add("EX110")
                done.detail = "none"
                return
            t = rng.choice([x for x in pool if x in m.lesions] or pool)
            code, detail = "OS100", "primary"
        elif m.impacted:
            t = rng.choice(sorted(m.impacted))
            code, detail = rng.choice(("OS130", "OS140")), "impacted"
        else:
            thirds = sorted(m.present & set(_THIRD_MOLARS))
            hopeless = sorted(t for t in m.present if t in m.lesions and _POS[t] >= 6 and t not in m.abutments)
            pool = thirds or hopeless or sorted(t for t in m.present if _POS[t] >= 6 and t not in m.abutments)
            if not pool:
                add("EX110")
                done.detail = "none"
                return
            t = rng.choice(pool)
            code, detail = ("OS100", "simple") if rng.random() < 0.6 else ("OS110", "surgical")
        add(code, t)
        m.present.discard(t)
        m.impacted.pop(t, None)
        m.lesions.pop(t, None)
        m.fractured.discard(t)
        m.extracted[t] = v.day
        done.tooth, done.detail = t, detail

    # --- findings left at the end of the year --------------------------------------------------------

    def _findings(self, p: _Patient, m: _Mouth, first: date) -> None:
        """Findings still true at the end of the year: third molars still in the jaw and teeth on
        watch since before the first visit; caries and fractures charted at the latest exam."""
        for t in sorted(m.impacted):
            self._finding(p, first, m.impacted[t], t)
        for t in sorted(m.watch):
            if t in m.present and t not in m.treated and t not in m.crowns:
                self._finding(p, first, "watch", t, note=m.watch[t])
        exams = [v for v in p.visits if v.type_name in _EXAM_TYPES]
        seen = exams[-1] if exams else None
        for t in sorted(m.lesions):
            if seen is not None:
                self._entry(
                    p.id,
                    "caries",
                    seen.day,
                    tooth=t,
                    surfaces=m.lesions[t],
                    status="condition",
                    provider=seen.provider_id,
                )
            else:
                self._finding(p, first, "caries", t, m.lesions[t])
        for t in sorted(m.fractured):
            note = "Cracked cusp: crown advised."
            if seen is not None:
                self._entry(
                    p.id, "fracture", seen.day, tooth=t, status="condition", provider=seen.provider_id, note=note
                )
            else:
                self._finding(p, first, "fracture", t, note=note)

    # --- treatment plans ------------------------------------------------------------------------------

    def _dentist(self, v: _Visit | None) -> str | None:
        if v is not None and v.role == Role.DENTIST.value:
            return v.provider_id
        return self.rng.choice(self.dentists) if self.dentists else None

    def _completed_plan(self, p: _Patient, done: list[_Done]) -> None:
        """Half the adults treated this year had it done under a plan, now completed."""
        rng = self.rng
        work = [
            (d.visit, e)
            for d in done
            if d.visit.type_name in ("Filling", "Crown prep", "Root canal", "Extraction")
            for e in d.entries
            if e["code"] not in ("EX110", "AD100")
        ]
        if not work or rng.random() >= 0.5:
            return
        start = work[0][0].day
        earlier = [v for v in p.visits if v.type_name in _EXAM_TYPES and v.day < start]
        proposed = earlier[-1].day if earlier else max(p.dob, start - timedelta(days=rng.randint(7, 28)))
        accepted = min(start, proposed + timedelta(days=rng.randint(0, 7)))
        plan = self._plan(
            p.id,
            "Treatment plan",
            new_id(),
            "completed",
            proposed,
            self._dentist(earlier[-1] if earlier else work[0][0]),
            accepted=accepted,
            completed=work[-1][0].day,
        )
        for n, (_v, e) in enumerate(work, start=1):
            self._item(plan, e, 1, n)

    def _open_plans(self, p: _Patient, m: _Mouth) -> None:
        """About 30% of adults have a proposed or accepted plan; a few weigh two options."""
        rng = self.rng
        exams = [v for v in p.visits if v.type_name in _EXAM_TYPES]
        seen = exams[-1] if exams else None
        proposed = seen.day if seen else max(p.dob, self.today - timedelta(days=rng.randint(20, 200)))
        needs: list[tuple[int, str, str | None, str]] = []  # (phase, code, tooth, surfaces or region)
        for t in sorted(m.lesions):
            needs.append((1, self._filling_code(t, m.lesions[t], False), t, m.lesions[t]))
        for t in sorted((m.rct | m.fractured) & (m.present - m.crowns - m.abutments)):
            if not teeth.is_primary(t):
                needs.append((1, "RS300", t, ""))
        if p.perio:
            count = rng.choice((2, 2, 3, 4))
            # scaling and root planing comes first, quadrant by quadrant
            for q in rng.sample((1, 2, 3, 4), count):
                needs.insert(0, (1, "PE100", None, _QUADRANTS[q]))
        impacted = sorted(t for t, kind in m.impacted.items() if kind == "impacted")
        if impacted and rng.random() < 0.4:
            needs.append((2, "OS130", rng.choice(impacted), ""))
        gaps = self._gaps(m)
        want = rng.random() < (0.5 if needs else 0.06)
        if not want:
            return
        if not needs:
            # caries found at the latest exam, on a tooth nobody has worked on this year
            fresh = sorted(
                x for x in m.present if _POS[x] >= 4 and m.restorable(x) and x not in m.treated | m.fillings.keys()
            )
            if not fresh:
                return
            t = rng.choice(fresh)
            shape = self._lesion_shape(m, t)
            m.lesions[t] = shape
            day = seen.day if seen else proposed
            self._entry(
                p.id,
                "caries",
                day,
                tooth=t,
                surfaces=shape,
                status="condition",
                provider=seen.provider_id if seen else None,
            )
            needs.append((1, self._filling_code(t, shape, False), t, shape))
        chosen = needs[: rng.choice((1, 2, 2, 3, 3, 4))] if not p.perio else needs[:4]
        if gaps and len(chosen) <= 2 and rng.random() < 0.3:
            chosen.append((2, "IM100", gaps.pop(0), ""))
        has_perio = any(code == "PE100" for _, code, _, _ in chosen)
        status = "accepted" if rng.random() < 0.45 else "proposed"
        accepted = min(self.today, proposed + timedelta(days=rng.randint(0, 14))) if status == "accepted" else None
        plan = self._plan(p.id, "Treatment plan", new_id(), status, proposed, self._dentist(seen), accepted=accepted)
        priority: dict[int, int] = defaultdict(int)
        for phase, code, tooth, where in chosen:
            # perio first: restorative work waits for the tissues to settle
            phase = 2 if has_perio and code != "PE100" else phase
            region = where if code == "PE100" else ""
            surfaces = where if code != "PE100" else ""
            entry = self._entry(p.id, code, proposed, tooth=tooth, surfaces=surfaces, region=region, status="planned")
            priority[phase] += 1
            self._item(plan, entry, phase, priority[phase])
            if code == "IM100":
                entry = self._entry(p.id, "IM130", proposed, tooth=tooth, status="planned")
                priority[phase] += 1
                self._item(plan, entry, phase, priority[phase])
        # about 5% weigh two options (not every mouth has a gap or a heavily filled tooth to offer them
        # for); the first patient who can always does, so even a small demo shows a choice
        if self.alternatives == 0 or rng.random() < 0.08:
            self._options(p, m, proposed, seen, gaps)

    def _gaps(self, m: _Mouth) -> list[str]:
        """Missing teeth (not third molars) with a natural, uncrowned tooth either side: bridge or implant."""
        out = []
        for t in sorted(m.missing):
            q, pos = int(t[0]), _POS[t]
            if 2 <= pos <= 6:
                sides = (f"{q}{pos - 1}", f"{q}{pos + 1}")
                if all(s in m.present and s not in m.crowns and s not in m.abutments for s in sides):
                    out.append(t)
        return out

    def _options(self, p: _Patient, m: _Mouth, proposed: date, seen: _Visit | None, gaps: list[str]) -> None:
        """Two alternative plans in one option group: a bridge or an implant, or a crown or an onlay."""
        rng = self.rng
        if gaps:
            t = gaps[-1]
            q, pos = int(t[0]), _POS[t]
            a: tuple[str, tuple[tuple[str, str, str], ...]] = (
                "Option A: bridge",
                (("PR220", f"{q}{pos - 1}", ""), ("PR200", t, ""), ("PR220", f"{q}{pos + 1}", "")),
            )
            b: tuple[str, tuple[tuple[str, str, str], ...]] = (
                "Option B: implant",
                (("IM100", t, ""), ("IM110", t, ""), ("IM130", t, "")),
            )
        else:
            big = sorted(
                t
                for t, s in m.fillings.items()
                if len(s) >= 3 and m.restorable(t) and t not in m.rct | m.fractured and t not in m.lesions
            )
            if not big:
                return
            t = rng.choice(big)
            a = ("Option A: crown", (("RS300", t, ""),))
            b = ("Option B: onlay", (("RS380", t, m.fillings[t]),))
        group = new_id()
        r = rng.random()
        by = self._dentist(seen)
        decided = min(self.today, proposed + timedelta(days=rng.randint(1, 21)))
        for n, (name, lines) in enumerate((a, b)):
            if r < 0.6:
                chosen = n == (0 if r < 0.35 else 1)
                other = (a if n == 1 else b)[0]
                plan = self._plan(
                    p.id,
                    name,
                    group,
                    "accepted" if chosen else "declined",
                    proposed,
                    by,
                    accepted=decided if chosen else None,
                    declined=None if chosen else decided,
                    reason="" if chosen else f"Patient chose {other}",
                )
            else:
                plan = self._plan(p.id, name, group, "proposed", proposed, by)
            for k, (code, tooth, surfaces) in enumerate(lines, start=1):
                self._item(
                    plan, self._entry(p.id, code, proposed, tooth=tooth, surfaces=surfaces, status="planned"), 1, k
                )
        self.alternatives += 1

    # --- insurance benefits ------------------------------------------------------------------------

    def _benefits(self, p: _Patient) -> None:
        rng = self.rng
        # most plans pay 80% of basic work, some 70%
        coverage = _COVERAGE_JSON[0] if rng.random() < 0.7 else _COVERAGE_JSON[1]
        annual = rng.choice((100_000, 125_000, 150_000, 150_000, 200_000))
        treated = any(v.type_name in ("Filling", "Crown prep", "Root canal", "Extraction") for v in p.visits)
        self.benefits.append(
            {
                **_new_row(),
                "patient_id": p.id,
                "coverage": coverage,
                "deductible_cents": 5_000,
                "deductible_met_cents": 5_000 if rng.random() < (0.8 if treated else 0.3) else 0,
                "annual_max_cents": annual,
                "max_used_cents": int(annual * rng.uniform(0, 0.6)) // 100 * 100,
                "year_start": self._day(date(self.today.year, 1, 1)),
            }
        )

    # --- perio exams -------------------------------------------------------------------------------

    def _perio_exams(self, p: _Patient, m: _Mouth) -> None:
        rng = self.rng
        hygiene = self._hygiene(p)
        first_day = p.exam_day
        assert first_day is not None
        later = hygiene[-1] if p.exams == 2 and hygiene and (hygiene[-1].day - first_day).days >= 60 else None
        # not in the mouth to probe: missing, replaced by a pontic, impacted or unerupted
        gone = m.missing | m.pontics | m.buried
        before_missing = gone | {t for t, d in m.extracted.items() if d <= first_day}
        who = rng.choice(self.hygienists) if self.hygienists else None
        first = self._readings(p, before_missing, m.implants)
        at = _utc(first_day, rng.randrange(8 * 60, 16 * 60, 10) + 40, self.tz)
        self._exam_row(p.id, first_day, who, first, min(at, self.now))
        if later is None:
            return
        after_missing = gone | {t for t, d in m.extracted.items() if d <= later.day}
        second = self._follow_up(p, first, after_missing, m.implants)
        self._exam_row(p.id, later.day, later.provider_id, second, later.ends_at)

    def _exam_row(self, pid: str, day: date, provider: str | None, exam: PerioReadings, at: datetime) -> None:
        self.exams.append(
            {
                **_new_row(),
                "patient_id": pid,
                "exam_date": self._day(day),
                "provider_id": provider,
                "status": "completed",
                "readings": exam.to_json(),
                "completed_at": _instant(at),
                "completed_by": provider,
            }
        )

    def _readings(self, p: _Patient, missing: set[str], implants: set[str]) -> PerioReadings:
        """Healthy: 1-3 mm with a few 4s and under 10% bleeding. Perio: 4-7 mm pockets at the molars,
        20-40% bleeding, some recession, two mobile teeth and a furcation."""
        rng = self.rng
        rnd = rng.random
        perio = p.perio
        exam = PerioReadings.blank(missing=missing, implants=implants)
        present = exam.present_teeth()
        mouth = "perio" if perio else "healthy"
        for t in present:
            r = exam.teeth[t]
            pool = self.patterns["implant" if r.implant else mouth, _KIND[t]]
            r.depth = list(pool[int(rnd() * len(pool))])
        bleed = rng.uniform(0.2, 0.4) if perio else rng.uniform(0.02, 0.07)
        self._bleed(exam, present, bleed)
        for t, i in self._sites(present, rng.uniform(0.25, 0.5) if perio else rng.uniform(0.05, 0.25)):
            exam.teeth[t].plaque[i] = True
        # recession: a little with age, more with periodontitis
        natural = [t for t in present if not exam.teeth[t].implant]
        count = (rng.randint(3, 8) if perio else rng.randint(0, 3) if p.age >= 40 else 0) if natural else 0
        for _ in range(count):
            t = rng.choice(natural)
            exam.teeth[t].margin[rng.choice((0, 1, 2))] = rng.choice((1, 1, 2, 3) if perio else (1, 1, 2))
        if perio and natural:
            for t in rng.sample(natural, min(2, len(natural))):
                exam.set_mobility(t, 1)
            molars = [t for t in natural if teeth.furcation_sites(t)]
            if molars:
                t = rng.choice(molars)
                exam.set_furcation(t, rng.choice(sorted(teeth.furcation_sites(t))), rng.choice((1, 2)))
            deep = [(t, i) for t in natural for i, d in enumerate(exam.teeth[t].depth) if (d or 0) >= 6]
            for t, i in rng.sample(deep, min(len(deep), rng.choice((0, 1, 2)))):
                exam.teeth[t].suppuration[i] = True
        return exam

    def _sites(self, present: list[str], share: float) -> list[tuple[str, int]]:
        """`share` of the sites of the present teeth, at random."""
        n = len(present) * 6
        return [(present[k // 6], k % 6) for k in self.rng.sample(range(n), round(share * n))]

    def _bleed(self, exam: PerioReadings, present: list[str], share: float) -> None:
        """Bleeding on probing at `share` of the probed sites, the deeper pockets first in line."""
        if share < 0.1:  # a healthy mouth: here and there
            for t, i in self._sites(present, share):
                exam.teeth[t].bleeding[i] = True
            return
        rnd = self.rng.random
        order = sorted(
            (rnd() * (1.0 if d >= 5 else 2.0 if d == 4 else 4.0), t, i)
            for t in present
            for i, d in enumerate(exam.teeth[t].depth)
            if d is not None
        )
        for _, t, i in order[: round(share * len(order))]:
            exam.teeth[t].bleeding[i] = True

    def _follow_up(self, p: _Patient, before: PerioReadings, missing: set[str], implants: set[str]) -> PerioReadings:
        """The later exam: the same mouth within a millimetre, except that a perio patient's
        disease has moved on at a handful of molar sites (2-3 mm deeper)."""
        rng = self.rng
        exam = PerioReadings.blank(missing=missing, implants=implants)
        present = exam.present_teeth()
        for t in present:
            r, b = exam.teeth[t], before.teeth[t]
            r.depth = list(b.depth)
            r.margin = list(b.margin)
            r.plaque = list(b.plaque)
            r.suppuration = list(b.suppuration)
            r.mobility = b.mobility
            r.furcation = dict(b.furcation)
        # probing varies by a millimetre from one exam to the next
        for t, i in self._sites(present, 0.22):
            r = exam.teeth[t]
            d = r.depth[i]
            if d is not None:
                r.depth[i] = d + 1 if d < 4 and rng.random() < 0.45 else max(1, d - 1)
        self._bleed(exam, present, rng.uniform(0.2, 0.4) if p.perio else rng.uniform(0.02, 0.07))
        if p.perio:
            natural = [t for t in present if not exam.teeth[t].implant]
            molars = [t for t in natural if _POS[t] >= 6] or natural
            sites = [(t, i) for t in molars for i in (0, 2, 3, 5)]
            for t, i in rng.sample(sites, min(len(sites), rng.randint(3, 8))):
                r = exam.teeth[t]
                old = before.teeth[t].depth[i] or 3
                r.depth[i] = min(old + rng.choice((2, 2, 3)), 10)
                r.bleeding[i] = True
        return exam

    # --- notes -------------------------------------------------------------------------------------

    def _label(self, t: str | None, surfaces: str = "") -> str:
        if not t:
            return ""
        label = teeth.to_label(t, self.numbering)
        return f"tooth {label} {teeth.surfaces_label(surfaces, t)}".strip() if surfaces else f"tooth {label}"

    def _note(self, p: _Patient, m: _Mouth, d: _Done) -> None:
        """A signed note written from the visit type's template, linked to the visit's procedures."""
        rng, v = self.rng, d.visit
        headings = self.templates[_TEMPLATE_FOR.get(v.type_name, "periodic-exam")]
        text = self._sections(p, m, d)
        body = "\n\n".join(f"{h}:\n{text.get(h) or self._default(h, d)}" for h in headings) + "\n"
        signed = min(v.ends_at + timedelta(minutes=rng.randint(2, 25)), self.now)
        note: dict[str, Any] = {
            **_new_row(),
            "created_at": _instant(v.ends_at),  # written at the end of the visit, signed soon after
            "patient_id": p.id,
            "appointment_id": v.id,
            "visit_date": self._day(v.day),
            "title": v.type_name,
            "body": body,
            "author_id": v.provider_id,
            "signed_at": None,  # signed once its procedures are linked (see seed_charts)
        }
        self.notes.append(note)
        self.signatures.append((_instant(signed), note["id"]))
        for e in d.entries:
            self.links.append(
                {
                    **_new_row(),
                    "note_id": note["id"],
                    "chart_entry_id": e["id"],
                }
            )
        treated = v.type_name in ("Filling", "Crown prep", "Root canal", "Extraction") and d.detail != "none"
        if treated and rng.random() < 0.04:
            when = signed + timedelta(days=1, hours=rng.randint(0, 6))
            if when < self.now:
                body = _CROWN_ADDENDUM if v.type_name == "Crown prep" else rng.choice(_ADDENDA)
                self.addenda.append(
                    {
                        **_new_row(),
                        "note_id": note["id"],
                        "body": body,
                        "author_id": v.provider_id,
                        "signed_at": _instant(when),
                    }
                )

    @staticmethod
    def _default(heading: str, d: _Done) -> str:
        if heading.startswith("Anaesthetic"):
            return "None."
        if heading.startswith("Next visit"):
            return "Routine recall."
        return "Nothing of note."

    def _history(self, p: _Patient) -> str:
        rng = self.rng
        if p.alerts:
            return f"Reviewed with the patient. Alerts noted: {'; '.join(p.alerts)}."
        return rng.choice(("Reviewed with the patient; no changes.", "Reviewed: no medical history of note."))

    def _anaesthetic(self, t: str | None, age: int) -> str:
        if not t:
            return "None."
        side = "right" if teeth.is_right(t) else "left"
        lower = teeth.arch(t) == teeth.Arch.LOWER
        where = (
            f"inferior alveolar nerve block, {side}"
            if lower and teeth.kind(t) == teeth.ToothKind.MOLAR
            else (f"buccal infiltration, {self._label(t)}")
        )
        topical = "Topical benzocaine 20%, then l" if age < 16 else "L"
        return f"{topical}idocaine 2% 1:100k, 1.8 mL, {where}."

    def _sections(self, p: _Patient, m: _Mouth, d: _Done) -> dict[str, str]:
        """Text under each heading the visit's template has (the rest get a short default)."""
        rng, v = self.rng, d.visit
        age = age_on(p.dob, v.day)
        codes = {e["code"] for e in d.entries}
        t, where = d.tooth, self._label(d.tooth, d.surfaces)
        caries = [self._label(x, s) for x, s in sorted(m.lesions.items())][:3]
        text: dict[str, str] = {"Medical history reviewed": self._history(p)}
        xr = (
            "Full-mouth series taken"
            if "XR100" in codes
            else "Panoramic and four bitewings taken"
            if "XR110" in codes
            else "Four bitewings taken"
            if "XR130" in codes
            else "Two bitewings taken"
            if "XR120" in codes
            else ""
        )
        found = f"caries {', '.join(caries)}" if caries else "no new caries"
        gums = (
            "Generalised bleeding on probing; 5-7 mm pockets around the molars."
            if p.perio
            else rng.choice(
                ("Gingivae pink and firm.", "Mild marginal gingivitis lower anteriors.", "Gingivae healthy.")
            )
        )
        kind = v.type_name
        if kind in ("New patient exam", "Consult"):
            text["Chief complaint"] = (
                "Orthodontic consultation: crowding of the lower incisors."
                if d.detail == "orthodontic"
                else rng.choice(
                    (
                        "New patient; would like a check-up and cleaning.",
                        "Moved to the area; last dental visit about two years ago.",
                        "Occasional sensitivity to cold on the left side.",
                        "Wants to discuss replacing a missing tooth.",
                    )
                )
                if kind == "New patient exam"
                else rng.choice(
                    (
                        "Consultation to discuss the treatment options.",
                        "Wants to discuss replacing a missing tooth.",
                        "Second opinion on the proposed treatment.",
                    )
                )
            )
            text["Extra-oral findings"] = "No lymphadenopathy; TMJ and muscles of mastication within normal limits."
            text["Intra-oral findings (soft tissue, teeth, periodontal)"] = (
                f"Soft tissues healthy. Teeth: {found}. {gums}"
            )
            text["Radiographs (taken, findings)"] = f"{xr}: {found}." if xr else "None taken today."
            text["Diagnosis"] = ("Periodontitis, localised to the molars. " if p.perio else "") + (
                f"Caries {', '.join(caries)}." if caries else "No active caries."
            )
            text["Treatment plan discussed"] = (
                "Options, fees and insurance estimate discussed; written plan given."
                if caries or p.perio or m.missing - set(_THIRD_MOLARS)
                else "No treatment needed; continue six-monthly recall."
            )
            text["Next visit"] = "Book treatment as planned." if caries else "Recall in 6 months."
        elif kind in HYGIENE_TYPES:
            calculus = rng.choice(("light", "moderate")) + " supragingival calculus lingual of the lower incisors"
            plaque = rng.choice(("Light plaque", "Moderate plaque", "Plaque"))
            if "PE130" in codes:
                findings = f"{gums} {plaque} interproximally." if p.perio else f"{gums} Pockets 4 mm or less. {plaque}."
                treatment = "Full-mouth debridement with ultrasonic and hand instruments" + (
                    "; molar sites root planed." if p.perio else "."
                )
                text[ANAESTHETIC] = "Topical benzocaine 20% to the deeper sites." if p.perio else "None."
                text["Next visit"] = "Perio maintenance in 3 months."
            else:
                findings = f"{gums} {plaque}; {calculus}."
                done = [
                    e for c, e in (("PV120", "fluoride varnish applied"), ("PV130", "sealants placed")) if c in codes
                ]
                treatment = "; ".join(["Full-mouth scaling and polish", *done] + ([xr.lower()] if xr else [])) + "."
                text["Next visit"] = "Recall in 6 months."
            for heading in (
                "Findings (gingivae, plaque, calculus)",
                "Findings (bleeding, pocketing, mobility, plaque)",
            ):
                text[heading] = findings
            for heading in ("Treatment (scaling, polishing, fluoride)", "Treatment (areas debrided)"):
                text[heading] = treatment
            text["Oral hygiene instructions"] = rng.choice(
                (
                    "Brushing technique reviewed; interdental brushes recommended.",
                    "Flossing demonstrated; electric toothbrush recommended.",
                    "Reinforced twice-daily brushing with fluoride toothpaste.",
                )
            )
        elif kind in ("Filling", "Crown prep", "Root canal"):
            text[ANAESTHETIC] = self._anaesthetic(t, age)
            text["Isolation"] = (
                "Rubber dam." if kind == "Root canal" or rng.random() < 0.5 else "Cotton rolls and dry angle."
            )
            if kind == "Filling" and t:
                more = f" Also {self._label(*d.detail.split())}." if d.detail and d.detail != "none" else ""
                shade = rng.choice(("A1", "A2", "A2", "A3"))
                text["Treatment (tooth, surfaces, material, shade)"] = (
                    f"{_cap(where)}: caries removed, selective etch, bonded composite, shade {shade}. "
                    f"Occlusion checked.{more}"
                )
                text["Post-op instructions"] = "Numb for 2-3 hours; avoid chewing on that side until it wears off."
                text["Next visit"] = "Recall as scheduled."
            elif d.detail == "pulpotomy" and t:
                text["Treatment (tooth, surfaces, material, shade)"] = (
                    f"{_cap(where)}: caries removed, pulpotomy, restored with glass ionomer."
                )
                text["Post-op instructions"] = "Soft food today; give children's pain relief as needed."
                text["Next visit"] = "Review at recall."
            elif kind == "Root canal" and t:
                canals = 3 if teeth.kind(t) == teeth.ToothKind.MOLAR else 2 if _POS[t] in (4, 5) else 1
                text["Treatment (tooth, surfaces, material, shade)"] = (
                    f"{_cap(where)}: access, {canals} canal{'s' if canals > 1 else ''} located, cleaned and "
                    "shaped, working lengths confirmed radiographically, obturated with gutta-percha and sealer. "
                    "Temporary filling placed."
                )
                text["Post-op instructions"] = "Tender to bite for a few days; over-the-counter pain relief as needed."
                text["Next visit"] = "Crown prep in 2-4 weeks."
            elif kind == "Crown prep" and t:
                text["Treatment (tooth, surfaces, material, shade)"] = (
                    f"{_cap(where)}: prepared for a {d.detail} crown, impression taken, temporary crown "
                    f"cemented with temporary cement. Shade {rng.choice(('A2', 'A3', 'B2'))}."
                )
                text["Post-op instructions"] = "Avoid sticky food and floss out sideways around the temporary crown."
                text["Next visit"] = "Crown seat in 2 weeks."
            elif d.detail == "palliative":
                text["Treatment (tooth, surfaces, material, shade)"] = "Examined; palliative treatment only today."
                text[ANAESTHETIC] = "None."
                text["Next visit"] = "Review in 1 week."
            else:
                text["Treatment (tooth, surfaces, material, shade)"] = "Examined; no treatment needed today."
                text[ANAESTHETIC] = "None."
        elif kind == "Extraction":
            text["Chief complaint"] = (
                f"Impacted wisdom tooth ({where}): recurrent pericoronitis."
                if d.detail == "impacted"
                else f"Loose baby tooth ({where}) holding back its successor."
                if d.detail == "primary"
                else f"{_cap(where)}: pain, not restorable."
                if t
                else "Review of a painful tooth."
            )
            text["Consent"] = (
                "Risks (pain, swelling, bleeding, infection, dry socket) explained; written consent signed."
            )
            text[ANAESTHETIC] = self._anaesthetic(t, age)
            if t:
                how = (
                    "flap raised, bone removed and tooth sectioned, socket irrigated, two resorbable sutures"
                    if d.detail in ("surgical", "impacted")
                    else "elevators and forceps, socket irrigated"
                )
                text["Treatment (tooth, technique, haemostasis)"] = (
                    f"{_cap(where)} extracted: {how}; gauze pressure, haemostasis achieved."
                )
            text["Post-op instructions"] = "Written instructions given: no rinsing for 24 hours, no smoking, soft diet."
            text["Next visit"] = "Review in 1 week if needed."
        elif kind == "Emergency":
            text["Chief complaint"] = rng.choice(
                ("Pain on biting", "Sensitive to cold", "Lost filling", "Throbbing pain overnight")
            ) + (f", {where}." if t else ".")
            text["Findings"] = (
                f"{_cap(where)}: {'deep caries' if t in m.lesions else 'tender to percussion'}; soft tissues normal."
                if t
                else "No cause found on examination."
            )
            text["Diagnosis"] = (
                rng.choice(("Reversible pulpitis", "Symptomatic irreversible pulpitis", "Cracked tooth"))
                + f", {where}."
                if t
                else "Non-dental pain; monitor."
            )
            text[ANAESTHETIC] = self._anaesthetic(t, age) if d.detail == "palliative" and t else "None."
            text["Treatment"] = ("Periapical radiograph taken. " if "XR140" in codes else "") + (
                "Palliative: temporary dressing placed." if d.detail == "palliative" else "Advice given."
            )
            text["Post-op instructions"] = "Over-the-counter pain relief as needed; call if swelling develops."
            text["Next visit"] = "Book definitive treatment."
        return text


def _new_row() -> dict[str, Any]:
    """The sync columns of a new row; _stamp fills the times as rows are inserted."""
    return {"id": new_id(), "created_at": None, "updated_at": None, "version": 1, "deleted_at": None}


def _stamp(rows: list[dict[str, Any]], now: datetime) -> None:
    """Created and updated one microsecond apart, in insertion order, up to `now` (see demo._rows),
    written as UtcDateTime stores them."""
    at = now - timedelta(microseconds=len(rows) + 1)
    second, prefix = None, ""
    for r in rows:
        at += _MICROSECOND
        if at.second != second or at.microsecond == 0:
            second, prefix = at.second, _instant(at)[:20]  # 'YYYY-MM-DDTHH:MM:SS.'
        r["updated_at"] = f"{prefix}{at.microsecond:06d}Z"
        if r["created_at"] is None:  # rows that say when they were written (notes) keep it
            r["created_at"] = r["updated_at"]


_MICROSECOND = timedelta(microseconds=1)


def _insert(s: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """One executemany of rows already in their stored form (the text demo._bulk_insert would
    write for dates and instants), so no value needs converting on the way in."""
    if not rows:
        return
    cols = list(rows[0])
    unknown = set(cols) - set(Base.metadata.tables[table].columns.keys())
    if unknown:
        raise ValueError(f"{table} has no column {', '.join(sorted(unknown))}")
    get = itemgetter(*cols)
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    s.connection().exec_driver_sql(sql, [get(r) for r in rows])


def seed_charts(s: Session, *, today: date, now: datetime, tz: ZoneInfo, rng: random.Random) -> dict[str, int]:
    """Give every patient a chart, and what their completed visits did to it, in `s`'s transaction.

    Reads the patients, their insurance and recalls, and the completed appointments already in
    the session; returns how many rows it made of each kind.
    """
    seeder = _Seeder(s, today=today, now=now, tz=tz, rng=rng)
    people = seeder.load()
    seeder.choose_perio(people)
    for p in people:
        seeder.patient(p)
    tables = (
        (ChartEntry.__tablename__, seeder.entries),
        (TreatmentPlan.__tablename__, seeder.plans),
        (TreatmentPlanItem.__tablename__, seeder.items),
        (InsuranceBenefits.__tablename__, seeder.benefits),
        (PerioExam.__tablename__, seeder.exams),
        (ClinicalNote.__tablename__, seeder.notes),
        (NoteProcedure.__tablename__, seeder.links),
        (NoteAddendum.__tablename__, seeder.addenda),
    )
    log: list[dict[str, Any]] = []
    for table, rows in tables:
        _stamp(rows, now)
        _insert(s, table, rows)
        log.extend(_changes(table, rows))
    # the notes went in unsigned so their procedures could be linked (the database refuses
    # links to a signed note); signed now, in the same transaction, nobody sees the step
    if seeder.signatures:
        s.connection().exec_driver_sql(
            f"UPDATE {ClinicalNote.__tablename__} SET signed_at = ? WHERE id = ? AND signed_at IS NULL",
            seeder.signatures,
        )
    _insert(s, ChangeLog.__tablename__, log)
    entries = seeder.entries
    return {
        "chart_entries": len(entries),
        "chart_conditions": sum(e["kind"] == "condition" for e in entries),
        "chart_completed": sum(e["status"] == "completed" for e in entries),
        "chart_planned": sum(e["status"] == "planned" for e in entries),
        "treatment_plans": len(seeder.plans),
        "treatment_plan_items": len(seeder.items),
        "plan_option_groups": seeder.alternatives,
        "insurance_benefits": len(seeder.benefits),
        "perio_exams": len(seeder.exams),
        "perio_patients": sum(p.perio for p in people),
        "clinical_notes": len(seeder.notes),
        "note_procedures": len(seeder.links),
        "note_addenda": len(seeder.addenda),
    }
