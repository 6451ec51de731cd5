"""Records every change to a synced row in the change log, inside the same flush."""

import json
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from app.db.models import ChangeLog, Synced
from app.db.types import utcnow
from app.domain.ids import new_id

_BOOKKEEPING = frozenset({"version", "updated_at"})


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    now = utcnow()
    for obj in list(session.new):
        if isinstance(obj, Synced):
            if obj.id is None:
                obj.id = new_id()
            session.add(_entry(obj, "insert", 1, now))
    for obj in list(session.dirty):
        if isinstance(obj, Synced) and session.is_modified(obj, include_collections=False):
            state = inspect(obj)
            operation = "delete" if state.attrs.deleted_at.history.added else "update"
            written = [a.key for a in state.mapper.column_attrs if state.attrs[a.key].history.has_changes()]
            session.add(_entry(obj, operation, (obj.version or 0) + 1, now, written))
    for obj in session.deleted:
        if isinstance(obj, Synced):
            # nothing synced is hard-deleted; a programming slip must not lose data silently
            raise RuntimeError(f"{type(obj).__name__} rows are tombstoned, never deleted")


def _entry(obj: Synced, operation: str, version: int, now: Any, written: list[str] | None = None) -> ChangeLog:
    # the fields an update wrote let the cloud merge a patient row field by field
    fields = [f for f in written if f not in _BOOKKEEPING] if written is not None else None
    return ChangeLog(
        table_name=type(obj).__tablename__,  # type: ignore[attr-defined]
        row_id=obj.id,
        operation=operation,
        row_version=version,
        changed_at=now,
        changed_fields=json.dumps(fields) if fields is not None else None,
    )


def install(session_class: type[Session]) -> None:
    """Attach the change-log recorder to a session class (once)."""
    if not event.contains(session_class, "before_flush", _before_flush):
        event.listen(session_class, "before_flush", _before_flush)
