"""Keeps the in-memory patient index in step with the database."""

import threading
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Patient
from app.domain.patient_search import PatientIndex, SearchEntry
from app.domain.phones import phone_digits

_COLUMNS = (
    Patient.id,
    Patient.chart_no,
    Patient.first_name,
    Patient.last_name,
    Patient.preferred_name,
    Patient.middle_name,
    Patient.date_of_birth,
    Patient.mobile_phone,
    Patient.home_phone,
    Patient.work_phone,
    Patient.archived_at,
    Patient.deleted_at,
    Patient.updated_at,
)


class PatientSearchCache:
    """The index plus the newest `updated_at` it has seen; refreshes only what changed."""

    def __init__(self) -> None:
        self.index = PatientIndex()
        self._seen: datetime | None = None
        self._seen_ids: set[str] = set()  # rows already indexed at exactly `_seen`
        self._lock = threading.Lock()

    def refresh(self, session: Session) -> None:
        with self._lock:
            stmt = select(*_COLUMNS)
            if self._seen is not None:
                # >= so rows stamped in the same microsecond as the last seen are not missed
                stmt = stmt.where(Patient.updated_at >= self._seen)
            for row in session.execute(stmt):
                if row.updated_at == self._seen and row.id in self._seen_ids:
                    continue
                if row.deleted_at is not None:
                    self.index.remove(row.id)
                else:
                    self.index.put(
                        SearchEntry(
                            patient_id=row.id,
                            chart_no=row.chart_no,
                            names=(row.first_name, row.last_name, row.preferred_name, row.middle_name),
                            sort_name=f"{row.last_name} {row.first_name}".casefold(),
                            date_of_birth=row.date_of_birth,
                            phone_digits=tuple(
                                d for d in map(phone_digits, (row.mobile_phone, row.home_phone, row.work_phone)) if d
                            ),
                            archived=row.archived_at is not None,
                        )
                    )
                if self._seen is None or row.updated_at > self._seen:
                    self._seen, self._seen_ids = row.updated_at, set()
                if row.updated_at == self._seen:
                    self._seen_ids.add(row.id)

    def search(self, session: Session, text: str, include_archived: bool, limit: int) -> list[str]:
        self.refresh(session)
        with self._lock:
            return self.index.search(text, include_archived=include_archived, limit=limit)
