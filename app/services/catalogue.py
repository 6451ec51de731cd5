"""The procedure catalogue: the codes shipped with Chairside and a clinic's own imported list."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import ProcedureCode
from app.domain.catalogue import BadLine, ConditionDef, ProcedureDef, parse_catalogue_csv, shipped_conditions
from app.domain.catalogue import shipped_procedures as _shipped_procedures
from app.domain.errors import UserError
from app.domain.permissions import Scope
from app.services.context import Ctx


class UnknownProcedure(UserError):
    pass


@dataclass(frozen=True, slots=True)
class ProcedureRow:
    id: str
    code: str
    description: str
    category: str
    fee_cents: int
    area: str
    surfaces_required: int
    draw: str
    source: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: int
    updated: int
    unchanged: int
    bad_lines: tuple[BadLine, ...]


def shipped_id(code: str) -> str:
    """The same id on every workstation, so two installs never ship two copies of a code."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chairside:procedure:{code}"))


def _values(p: ProcedureDef) -> dict[str, object]:
    return {
        "description": p.description,
        "category": str(p.category),
        "fee_cents": p.fee_cents,
        "area": str(p.area),
        "surfaces_required": p.surfaces_required,
        "draw": p.draw,
    }


def ensure_shipped(session: Session) -> None:
    """Fill an empty catalogue with the shipped codes (a new clinic, or one just upgraded)."""
    if session.scalar(select(func.count()).select_from(ProcedureCode)):
        return
    for p in _shipped_procedures():
        session.add(ProcedureCode(id=shipped_id(p.code), code=p.code, source="shipped", active=True, **_values(p)))


def _row(p: ProcedureCode) -> ProcedureRow:
    return ProcedureRow(
        p.id, p.code, p.description, p.category, p.fee_cents, p.area, p.surfaces_required, p.draw, p.source
    )


def _rank(row: ProcedureRow, words: list[str]) -> int | None:
    """Lower is better; None = no match. Codes first, then descriptions starting with the words."""
    code, text = row.code.lower(), f"{row.description} {row.category.replace('_', ' ')}".lower()
    query = " ".join(words)
    if code == query:
        return 0
    if code.startswith(query):
        return 1
    if all(w in text for w in words):
        return 2 if text.startswith(words[0]) else 3
    return None


def search(rows: Sequence[ProcedureRow], query: str) -> list[ProcedureRow]:
    """Rows matching every word of `query` (code or description), best first; all when empty.
    Pure, so a picker can filter its loaded list on every keystroke."""
    words = query.lower().split()
    if not words:
        return sorted(rows, key=lambda r: (r.category, r.code))
    ranked = [(rank, r.code, r) for r in rows if (rank := _rank(r, words)) is not None]
    return [r for _, _, r in sorted(ranked)]


def list_procedures(ctx: Ctx, query: str = "") -> list[ProcedureRow]:
    """Active procedures matching `query`, best first."""
    ctx.current_role()  # any signed-in member of staff: the catalogue holds no patient data
    with ctx.runtime.sessions() as s:
        active = select(ProcedureCode).where(ProcedureCode.active, ProcedureCode.deleted_at.is_(None))
        rows = [_row(p) for p in s.scalars(active)]
    return search(rows, query)


def get_procedure(session: Session, code: str) -> ProcedureCode:
    p = session.scalar(select(ProcedureCode).where(ProcedureCode.code == code, ProcedureCode.deleted_at.is_(None)))
    if p is None or not p.active:
        raise UnknownProcedure(f"Procedure code {code} is not in the catalogue.")
    return p


def conditions() -> tuple[ConditionDef, ...]:
    return shipped_conditions()


def import_csv(ctx: Ctx, text: str) -> ImportReport:
    """Add or update procedures from a clinic's own (e.g. licensed) list; bad lines are reported,
    good ones imported. Codes already in the catalogue take the file's description and fee."""
    ctx.require(Scope.CATALOGUE_ADMIN)
    parsed = parse_catalogue_csv(text)
    added = updated = unchanged = 0
    with ctx.uow() as uow:
        existing = {p.code: p for p in uow.session.scalars(select(ProcedureCode))}
        for p in parsed.procedures:
            values = _values(p)
            row = existing.get(p.code)
            if row is None:
                uow.session.add(ProcedureCode(code=p.code, source="imported", active=True, **values))
                added += 1
            elif {k: getattr(row, k) for k in values} == values and row.active and row.deleted_at is None:
                unchanged += 1
            else:
                for k, v in values.items():
                    setattr(row, k, v)
                row.active, row.deleted_at = True, None
                updated += 1
        uow.audit(
            "catalogue.imported",
            entity_type="procedure_code",
            details={"added": added, "updated": updated, "unchanged": unchanged, "bad_lines": len(parsed.bad_lines)},
        )
        uow.commit()
    return ImportReport(added, updated, unchanged, parsed.bad_lines)
