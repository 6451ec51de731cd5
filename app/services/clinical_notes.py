"""Clinical notes: templates, drafts, signing with the author's password, and addenda.

A note is a draft its author edits freely until they sign it; from then on it never changes
(this service refuses, and database triggers refuse any UPDATE as a backstop). Anything
learnt later is added as a signed addendum, by any clinician.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.models import (
    Appointment,
    ChartEntry,
    ClinicalNote,
    NoteAddendum,
    NoteProcedure,
    NoteTemplate,
    Patient,
    StaffUser,
)
from app.db.types import utcnow
from app.domain.dates import format_date
from app.domain.errors import FieldError, UserError, ValidationError
from app.domain.permissions import Scope
from app.services import audit, auth
from app.services.context import Ctx
from app.services.patients import PatientNotFound

TITLE_MAX = 200


class NoteNotFound(UserError):
    pass


class NoteSigned(UserError):
    """The note is signed: it can no longer change; an addendum extends it."""


class NotNoteAuthor(UserError):
    """Only a draft's author may edit, sign or discard it."""


class StaleNote(UserError):
    pass


class NoteIsDraft(UserError):
    """Addenda extend signed notes; a draft is simply edited."""


class EmptyNote(UserError):
    pass


class TemplateNotFound(UserError):
    pass


class NotThisPatient(UserError):
    """A linked appointment or chart entry belongs to someone else (or no longer exists)."""


# --- templates -------------------------------------------------------------------------------

ANAESTHETIC = "Anaesthetic (agent, amount, site)"
HISTORY = "Medical history reviewed"


def _skeleton(*headings: str) -> str:
    """A template body: each heading on its own line with a blank line to write under it."""
    return "\n\n".join(f"{h}:" for h in headings) + "\n"


# key, name, body: the headings a clinician fills in, never anything about a patient
SHIPPED_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    (
        "comprehensive-exam",
        "Comprehensive exam",
        _skeleton(
            "Chief complaint",
            HISTORY,
            "Extra-oral findings",
            "Intra-oral findings (soft tissue, teeth, periodontal)",
            "Radiographs (taken, findings)",
            "Diagnosis",
            "Treatment plan discussed",
            "Next visit",
        ),
    ),
    (
        "periodic-exam",
        "Periodic exam / recall",
        _skeleton("Changes since last visit", HISTORY, "Findings", "Radiographs", "Treatment", "Next visit"),
    ),
    (
        "hygiene-visit",
        "Hygiene visit",
        _skeleton(
            HISTORY,
            "Findings (gingivae, plaque, calculus)",
            "Treatment (scaling, polishing, fluoride)",
            ANAESTHETIC,
            "Oral hygiene instructions",
            "Next visit",
        ),
    ),
    (
        "restorative",
        "Restorative",
        _skeleton(
            HISTORY,
            ANAESTHETIC,
            "Isolation",
            "Treatment (tooth, surfaces, material, shade)",
            "Post-op instructions",
            "Next visit",
        ),
    ),
    (
        "extraction",
        "Extraction",
        _skeleton(
            "Chief complaint",
            HISTORY,
            "Consent",
            ANAESTHETIC,
            "Treatment (tooth, technique, haemostasis)",
            "Post-op instructions",
            "Next visit",
        ),
    ),
    (
        "emergency-exam",
        "Emergency / limited exam",
        _skeleton(
            "Chief complaint",
            HISTORY,
            "Findings",
            "Diagnosis",
            ANAESTHETIC,
            "Treatment",
            "Post-op instructions",
            "Next visit",
        ),
    ),
    (
        "perio-maintenance",
        "Perio maintenance",
        _skeleton(
            HISTORY,
            "Findings (bleeding, pocketing, mobility, plaque)",
            ANAESTHETIC,
            "Treatment (areas debrided)",
            "Oral hygiene instructions",
            "Next visit",
        ),
    ),
)


def shipped_template_id(key: str) -> str:
    """The id a shipped template has on every workstation, so two installs never duplicate it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chairside:note-template:{key}"))


def ensure_shipped_templates(session: Session) -> int:
    """Add the shipped templates to a clinic that has none yet; how many were added."""
    if session.scalar(select(func.count()).select_from(NoteTemplate)):
        return 0
    for key, name, body in SHIPPED_TEMPLATES:
        session.add(NoteTemplate(id=shipped_template_id(key), name=name, body=body, active=True))
    session.flush()
    return len(SHIPPED_TEMPLATES)


@dataclass(frozen=True)
class TemplateRow:
    id: str
    name: str
    body: str
    appointment_type_id: str | None


def list_templates(ctx: Ctx, appointment_type_id: str | None = None) -> list[TemplateRow]:
    """Templates to start a note from: those made for this visit type first, then the general
    ones; with no visit type, every active template (general ones first)."""
    ctx.require(Scope.CHART_READ)
    with ctx.uow(write=False) as uow:
        rows = [
            TemplateRow(t.id, t.name, t.body, t.appointment_type_id)
            for t in uow.session.scalars(
                select(NoteTemplate).where(NoteTemplate.active.is_(True), NoteTemplate.deleted_at.is_(None))
            )
        ]
    if appointment_type_id is not None:
        # this visit type's own templates, then the general ones
        rows = [t for t in rows if t.appointment_type_id in (appointment_type_id, None)]
        return sorted(rows, key=lambda t: (t.appointment_type_id is None, t.name.casefold()))
    return sorted(rows, key=lambda t: (t.appointment_type_id is not None, t.name.casefold()))


# --- views -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedProcedure:
    chart_entry_id: str
    description: str
    tooth: str | None
    surfaces: str
    status: str


@dataclass(frozen=True)
class AddendumView:
    id: str
    body: str
    author_name: str
    signed_at: datetime


@dataclass(frozen=True)
class NoteView:
    id: str
    patient_id: str
    version: int
    visit_date: date
    title: str
    body: str
    author_id: str
    author_name: str
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    appointment_id: str | None
    procedures: tuple[LinkedProcedure, ...] = ()
    addenda: tuple[AddendumView, ...] = ()

    @property
    def signed(self) -> bool:
        return self.signed_at is not None


def _names(s: Session, ids: Iterable[str]) -> dict[str, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = s.execute(select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(wanted)))
    return dict(rows.all())


def _views(s: Session, notes: Sequence[ClinicalNote]) -> list[NoteView]:
    """Views of notes with their procedures and addenda, in three queries whatever the count."""
    ids = [n.id for n in notes]
    if not ids:
        return []
    links: dict[str, list[LinkedProcedure]] = {i: [] for i in ids}
    for note_id, e in s.execute(
        select(NoteProcedure.note_id, ChartEntry)
        .join(ChartEntry, ChartEntry.id == NoteProcedure.chart_entry_id)
        .where(NoteProcedure.note_id.in_(ids), NoteProcedure.deleted_at.is_(None))
        .order_by(ChartEntry.entry_date, ChartEntry.tooth, ChartEntry.created_at)
    ):
        links[note_id].append(LinkedProcedure(e.id, e.description, e.tooth, e.surfaces, e.status))
    addenda: dict[str, list[NoteAddendum]] = {i: [] for i in ids}
    for a in s.scalars(
        select(NoteAddendum)
        .where(NoteAddendum.note_id.in_(ids), NoteAddendum.deleted_at.is_(None))
        .order_by(NoteAddendum.signed_at)
    ):
        addenda[a.note_id].append(a)
    names = _names(s, [n.author_id for n in notes] + [a.author_id for lst in addenda.values() for a in lst])
    return [
        NoteView(
            id=n.id,
            patient_id=n.patient_id,
            version=n.version,
            visit_date=n.visit_date,
            title=n.title,
            body=n.body,
            author_id=n.author_id,
            author_name=names.get(n.author_id, "a former member of staff"),
            created_at=n.created_at,
            updated_at=n.updated_at,
            signed_at=n.signed_at,
            appointment_id=n.appointment_id,
            procedures=tuple(links[n.id]),
            addenda=tuple(
                AddendumView(a.id, a.body, names.get(a.author_id, "a former member of staff"), a.signed_at)
                for a in addenda[n.id]
            ),
        )
        for n in notes
    ]


def _view(s: Session, note: ClinicalNote) -> NoteView:
    return _views(s, [note])[0]


# --- helpers ---------------------------------------------------------------------------------


def _tz(ctx: Ctx) -> ZoneInfo:
    return ZoneInfo(ctx.runtime.info.time_zone)


def _day(ctx: Ctx, at: datetime) -> str:
    """An instant as the clinic's local date, written in its date order."""
    return format_date(at.astimezone(_tz(ctx)).date(), ctx.runtime.info.date_order)


def _patient(s: Session, patient_id: str) -> Patient:
    p = s.get(Patient, patient_id)
    if p is None or p.deleted_at is not None:
        raise PatientNotFound("That patient record does not exist.")
    return p


def _load(s: Session, note_id: str) -> ClinicalNote:
    n = s.get(ClinicalNote, note_id)
    if n is None or n.deleted_at is not None:
        raise NoteNotFound("That note no longer exists (it may have been a discarded draft).")
    return n


def _name(s: Session, user_id: str) -> str:
    return _names(s, [user_id]).get(user_id, "a former member of staff")


def _signed_refusal(ctx: Ctx, s: Session, n: ClinicalNote, *, again: bool = False) -> NoteSigned:
    assert n.signed_at is not None
    who, when = _name(s, n.author_id), _day(ctx, n.signed_at)
    if again:
        return NoteSigned(f"This note was already signed by {who} on {when}.")
    return NoteSigned(f"This note was signed by {who} on {when}; add an addendum instead.")


def _require_author(ctx: Ctx, s: Session, n: ClinicalNote, doing: str) -> None:
    assert ctx.actor is not None
    if n.author_id != ctx.actor.user_id:
        raise NotNoteAuthor(f"Only {_name(s, n.author_id)} can {doing} this draft note.")


def _stale(s: Session, note_id: str) -> StaleNote:
    return StaleNote(audit.stale_message(s, note_id, "note", "This note"))


def _draft_for_author(ctx: Ctx, s: Session, note_id: str, expected_version: int, doing: str) -> ClinicalNote:
    """The draft the actor wrote, at the version they opened; every refusal named."""
    n = _load(s, note_id)
    if n.signed_at is not None:
        raise _signed_refusal(ctx, s, n, again=doing == "sign")
    _require_author(ctx, s, n, doing)
    if n.version != expected_version:
        raise _stale(s, note_id)
    return n


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise ValidationError([FieldError("title", "Give the note a title.")])
    if len(title) > TITLE_MAX:
        raise ValidationError([FieldError("title", f"A note title can be at most {TITLE_MAX} characters.")])
    return title


def _check_visit_date(ctx: Ctx, visit_date: date) -> date:
    if visit_date > ctx.today():
        raise ValidationError(
            [FieldError("visit_date", "A note records a visit that has happened: its date cannot be in the future.")]
        )
    return visit_date


def _check_procedures(s: Session, patient_id: str, procedure_ids: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(procedure_ids))
    if not wanted:
        return []
    found = set(
        s.scalars(
            select(ChartEntry.id).where(
                ChartEntry.id.in_(wanted), ChartEntry.patient_id == patient_id, ChartEntry.deleted_at.is_(None)
            )
        )
    )
    if len(found) != len(wanted):
        raise NotThisPatient(
            "A procedure chosen for this note is not on this patient's chart (it may have been removed); "
            "reload the chart and choose again."
        )
    return wanted


def _live_links(s: Session, note_id: str) -> dict[str, NoteProcedure]:
    return {
        link.chart_entry_id: link
        for link in s.scalars(
            select(NoteProcedure).where(NoteProcedure.note_id == note_id, NoteProcedure.deleted_at.is_(None))
        )
    }


def _commit(ctx: Ctx, uow, s: Session, note_id: str) -> None:  # type: ignore[no-untyped-def]
    """Commit, turning the database's own refusals into the same messages as ours."""
    try:
        uow.commit()
    except StaleDataError:
        s.rollback()
        raise _stale(s, note_id) from None
    except DBAPIError as e:
        s.rollback()
        if "immutable" in str(e.orig):
            n = _load(s, note_id)
            if n.signed_at is not None:
                raise _signed_refusal(ctx, s, n) from None
        raise


# --- reading ---------------------------------------------------------------------------------


def list_notes(ctx: Ctx, patient_id: str) -> list[NoteView]:
    """A patient's notes, newest visit first, with their procedures and addenda (audited)."""
    ctx.require(Scope.CHART_READ)
    with ctx.uow() as uow:
        s = uow.session
        _patient(s, patient_id)
        notes = s.scalars(
            select(ClinicalNote)
            .where(ClinicalNote.patient_id == patient_id, ClinicalNote.deleted_at.is_(None))
            .order_by(ClinicalNote.visit_date.desc(), ClinicalNote.created_at.desc())
        ).all()
        views = _views(s, notes)
        uow.audit("notes.listed", entity_type="patient", entity_id=patient_id, patient_id=patient_id)
        uow.commit()
    return views


def get_note(ctx: Ctx, note_id: str) -> NoteView:
    """One note as it is now (after a refusal, to reload it); the opening is audited."""
    ctx.require(Scope.CHART_READ)
    with ctx.uow() as uow:
        s = uow.session
        n = _load(s, note_id)
        view = _view(s, n)
        uow.audit("note.opened", entity_type="clinical_note", entity_id=n.id, patient_id=n.patient_id)
        uow.commit()
    return view


# --- writing ---------------------------------------------------------------------------------


def create_note(
    ctx: Ctx,
    patient_id: str,
    *,
    title: str,
    body: str = "",
    template_id: str | None = None,
    appointment_id: str | None = None,
    visit_date: date | None = None,
    procedure_ids: Sequence[str] = (),
) -> NoteView:
    """A new draft note by the signed-in clinician; an empty body starts from the template."""
    actor = ctx.require(Scope.CHART_WRITE)
    clean_title = _clean_title(title)
    with ctx.uow() as uow:
        s = uow.session
        _patient(s, patient_id)
        if template_id is not None:
            template = s.get(NoteTemplate, template_id)
            if template is None or template.deleted_at is not None or not template.active:
                raise TemplateNotFound("That note template is no longer available; choose another.")
            if not body.strip():
                body = template.body
        if appointment_id is not None:
            appt = s.get(Appointment, appointment_id)
            if appt is None or appt.deleted_at is not None or appt.patient_id != patient_id:
                raise NotThisPatient("That appointment is not one of this patient's visits.")
            if visit_date is None and appt.starts_at is not None:
                visit_date = appt.starts_at.astimezone(ZoneInfo(appt.time_zone)).date()
        day = _check_visit_date(ctx, visit_date or ctx.today())
        links = _check_procedures(s, patient_id, procedure_ids)
        note = ClinicalNote(
            patient_id=patient_id,
            appointment_id=appointment_id,
            visit_date=day,
            title=clean_title,
            body=body,
            author_id=actor.user_id,
        )
        s.add(note)
        s.flush()
        for entry_id in links:
            s.add(NoteProcedure(note_id=note.id, chart_entry_id=entry_id))
        s.flush()
        uow.audit(
            "note.created",
            entity_type="clinical_note",
            entity_id=note.id,
            patient_id=patient_id,
            details={
                "title": clean_title,
                "body": body,
                "visit_date": day.isoformat(),
                "template_id": template_id,
                "appointment_id": appointment_id,
                "procedures": links,
            },
        )
        uow.commit()
        return _view(s, note)


def update_note(
    ctx: Ctx,
    note_id: str,
    expected_version: int,
    *,
    title: str,
    body: str,
    visit_date: date,
    procedure_ids: Sequence[str],
) -> NoteView:
    """Save the author's edits to their draft; the previous and new text go to the audit trail."""
    ctx.require(Scope.CHART_WRITE)
    clean_title = _clean_title(title)
    with ctx.uow() as uow:
        s = uow.session
        n = _draft_for_author(ctx, s, note_id, expected_version, "edit")
        _check_visit_date(ctx, visit_date)
        wanted = _check_procedures(s, n.patient_id, procedure_ids)
        changes: dict[str, list[object]] = {}
        for field, new in (("title", clean_title), ("body", body), ("visit_date", visit_date)):
            old = getattr(n, field)
            if old != new:
                changes[field] = [
                    old.isoformat() if isinstance(old, date) else old,
                    new.isoformat() if isinstance(new, date) else new,
                ]
                setattr(n, field, new)
        live = _live_links(s, n.id)
        removed = [i for i in live if i not in wanted]
        added = [i for i in wanted if i not in live]
        now = utcnow()
        for entry_id in removed:
            live[entry_id].deleted_at = now
        for entry_id in added:
            s.add(NoteProcedure(note_id=n.id, chart_entry_id=entry_id))
        if removed or added:
            changes["procedures"] = [sorted(live), wanted]
            n.updated_at = now  # the links changed: the note's version moves too
        if not changes:
            return _view(s, n)
        uow.audit(
            "note.updated",
            entity_type="clinical_note",
            entity_id=n.id,
            patient_id=n.patient_id,
            details={"changes": changes},
        )
        _commit(ctx, uow, s, note_id)
        return _view(s, n)


def sign_note(ctx: Ctx, note_id: str, expected_version: int, password: str) -> NoteView:
    """Sign the author's draft once they confirm their password; from then on it is fixed."""
    ctx.require(Scope.CHART_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        n = _draft_for_author(ctx, s, note_id, expected_version, "sign")
        if not n.body.strip():
            raise EmptyNote("An empty note cannot be signed.")
        # before any change: a wrong password commits only its own failure count
        auth.confirm_own_password(ctx, uow, password)
        n.signed_at = utcnow()
        uow.audit(
            "note.signed",
            entity_type="clinical_note",
            entity_id=n.id,
            patient_id=n.patient_id,
            details={"title": n.title, "visit_date": n.visit_date.isoformat(), "body_chars": len(n.body)},
        )
        _commit(ctx, uow, s, note_id)
        return _view(s, n)


def add_addendum(ctx: Ctx, note_id: str, body: str, password: str) -> NoteView:
    """Extend a signed note with a dated, signed addendum by the signed-in clinician."""
    actor = ctx.require(Scope.CHART_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        n = _load(s, note_id)
        if n.signed_at is None:
            raise NoteIsDraft("Drafts are edited directly; addenda extend signed notes.")
        if not body.strip():
            raise EmptyNote("An empty addendum cannot be added.")
        auth.confirm_own_password(ctx, uow, password)
        addendum = NoteAddendum(note_id=n.id, body=body, author_id=actor.user_id, signed_at=utcnow())
        s.add(addendum)
        s.flush()
        uow.audit(
            "note.addendum_added",
            entity_type="clinical_note",
            entity_id=n.id,
            patient_id=n.patient_id,
            details={"addendum_id": addendum.id, "body": body},
        )
        uow.commit()
        return _view(s, n)


def discard_draft(ctx: Ctx, note_id: str, expected_version: int) -> None:
    """Throw away the author's unsigned draft (kept as a tombstone, its text in the audit trail)."""
    ctx.require(Scope.CHART_WRITE)
    with ctx.uow() as uow:
        s = uow.session
        n = _draft_for_author(ctx, s, note_id, expected_version, "discard")
        now = utcnow()
        for link in _live_links(s, n.id).values():
            link.deleted_at = now
        n.deleted_at = now
        uow.audit(
            "note.discarded",
            entity_type="clinical_note",
            entity_id=n.id,
            patient_id=n.patient_id,
            details={"title": n.title, "body": n.body, "visit_date": n.visit_date.isoformat()},
        )
        _commit(ctx, uow, s, note_id)
