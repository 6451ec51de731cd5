"""The time appointment bookings hold, kept beside their synced rows so that no two overlap.

A booking holds time only while it is on the book: not deleted, not on the pinboard, with a
start, an end after it and a status that still expects the patient or records the visit.
It holds that time, half-open [starts_at, ends_at), for each of its provider, operatory
(chair) and patient, so a booking may start the moment another ends.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import DateTime, String, and_, column, delete, insert, select, text, values
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sync.protocol import Row, instant
from sync.server.models import AppointmentSlot

APPOINTMENT_TABLE = "appointment"
# the workstation's active visit states (app.domain.scheduling.ACTIVE): cancelled, no-show
# and broken bookings free their time
BLOCKING_STATUSES = frozenset({"scheduled", "confirmed", "arrived", "seated", "completed"})
# the resources a booking holds, by the appointment column naming each; a clash is reported
# for the first in this order
RESOURCES = {"provider": "provider_id", "operatory": "operatory_id", "patient": "patient_id"}
_WHOSE = {"provider": "this provider's", "operatory": "this chair's", "patient": "this patient's"}
_LOOKUP_CHUNK = 1_000  # slots per overlap query: 5 parameters each, well under PostgreSQL's 65,535
_EXCLUSION_VIOLATION = "23P01"  # PostgreSQL's SQLSTATE for a refused exclusion constraint


@dataclass(frozen=True)
class Slot:
    resource: str
    resource_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Clash:
    """The slot of another booking (`row_id`) that holds time a pushed booking wants."""

    row_id: str
    slot: Slot

    def message(self) -> str:
        whose = _WHOSE[self.slot.resource]
        return (
            f"Another workstation already booked {whose} time {_span(self.slot.starts_at, self.slot.ends_at)}; "
            "this booking was not saved on the server."
        )


def _span(starts_at: datetime, ends_at: datetime) -> str:
    """'09:00–09:30 UTC on 2 Mar 2026'; the end's date too when it falls on another day."""
    start, end = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    if start.date() == end.date():
        return f"{start:%H:%M}–{end:%H:%M} UTC on {start.day} {start:%b %Y}"
    return f"{start:%H:%M} UTC on {start.day} {start:%b %Y} – {end:%H:%M} UTC on {end.day} {end:%b %Y}"


def _aware(stored: datetime) -> datetime:
    # SQLite hands back the stored UTC times without their zone
    return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored


def _overlap(mine: Slot, theirs: Slot) -> bool:
    return (
        mine.resource == theirs.resource
        and mine.resource_id == theirs.resource_id
        and theirs.starts_at < mine.ends_at
        and mine.starts_at < theirs.ends_at
    )


def slots_of(row: Row) -> list[Slot]:
    """The time an appointment row holds for each of its resources: none unless it is on the book."""
    status = row.get("status")
    starts_at, ends_at = instant(row.get("starts_at")), instant(row.get("ends_at"))
    if (
        row.get("deleted_at") is not None
        or row.get("on_pinboard")
        or not isinstance(status, str)
        or status not in BLOCKING_STATUSES
        or starts_at is None
        or ends_at is None
        or ends_at <= starts_at
    ):
        return []
    return [
        Slot(resource, resource_id, starts_at, ends_at)
        for resource, column in RESOURCES.items()
        if isinstance(resource_id := row.get(column), str) and 0 < len(resource_id) <= 64
    ]


class BookingsChanged(Exception):
    """PostgreSQL's exclusion constraint refused the push's slots: the overlap check missed one."""


class Bookings:
    """One clinic's appointment slots during one push, over a session (and transaction) it does not own.

    Pushes of a clinic are serialised (services/sync.py holds the clinic row lock), so the
    overlap query sees every committed slot; it asks once for all the push's bookings
    (`look_up`), and each is then checked in memory. The push's own slot changes are kept here and
    written together by `flush()`: one statement instead of several per booking, which is
    what makes a clinic's first push of thousands of bookings quick. PostgreSQL's exclusion
    constraint checks them again there, so a bug in the query cannot double-book anyone.
    """

    def __init__(self, session: Session, clinic_id: str) -> None:
        self.session = session
        self.clinic_id = clinic_id
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self._released: set[str] = set()  # bookings whose stored slots go
        self._held: dict[str, list[Slot]] = {}  # the slots this push gives each booking
        self._by_day: dict[tuple[str, str, date], list[tuple[str, Slot]]] = {}
        self._dropped: set[str] = set()
        self._none_stored: bool | None = None  # a clinic's first push: nothing to ask the database
        self._stored: dict[str, list[tuple[str, Slot]]] = {}  # looked-up stored slots near each booking

    def reserve(self, row: Row, *, new: bool = False) -> Clash | None:
        """Give an appointment row the slots it now holds, unless another booking holds that time.

        `new`: the server never had this booking, so it holds no stored slots.
        """
        row_id: str = row["id"]
        slots = slots_of(row)
        if row_id not in self._stored:
            self.look_up([row])
        clash = self._clash_in_push(row_id, slots) or self._clash_stored(row_id, slots)
        if clash is not None:
            return clash
        if not new:
            self._released.add(row_id)
        self._hold(row_id, slots)
        return None

    def release(self, row_id: str) -> None:
        """The booking no longer holds any time (its row was deleted)."""
        self._released.add(row_id)
        self._hold(row_id, [])

    def _hold(self, row_id: str, slots: list[Slot]) -> None:
        if row_id in self._held:
            self._dropped.add(row_id)  # pushed twice: its earlier slots in this push no longer count
            self._held[row_id] = slots
            return
        self._held[row_id] = slots
        for s in slots:
            self._by_day.setdefault((s.resource, s.resource_id, s.starts_at.date()), []).append((row_id, s))

    def _clash_in_push(self, row_id: str, slots: list[Slot]) -> Clash | None:
        """A booking earlier in this push holding the time (looked up by resource and day)."""
        for mine in slots:
            day = mine.starts_at.date() - timedelta(days=1)  # a visit before midnight may run into the day
            while day <= mine.ends_at.date():
                for other, theirs in self._by_day.get((mine.resource, mine.resource_id, day), ()):
                    if other != row_id and other not in self._dropped and _overlap(mine, theirs):
                        return Clash(other, theirs)
                day += timedelta(days=1)
        return None

    def _clash_stored(self, row_id: str, slots: list[Slot]) -> Clash | None:
        """A stored slot of another booking overlapping any of `slots`."""
        if not slots:
            return None
        found = [
            (other, theirs)
            for other, theirs in self._stored[row_id]
            # a booking this push moves or frees no longer holds its stored time
            if other not in self._released and any(_overlap(mine, theirs) for mine in slots)
        ]
        if not found:
            return None
        order = list(RESOURCES)
        other, first = min(found, key=lambda f: (order.index(f[1].resource), f[1].starts_at))
        return Clash(other, first)

    def look_up(self, rows: list[Row]) -> None:
        """Fetch the stored slots overlapping these appointment rows' slots, in one query per
        thousand slots: the push then checks each booking in memory, not with a query each."""
        wanted = [(row["id"], s) for row in rows for s in slots_of(row)]
        for row in rows:
            self._stored.setdefault(row["id"], [])
        if self._none_stored is None:
            held = select(AppointmentSlot.row_id).where(AppointmentSlot.clinic_id == self.clinic_id).limit(1)
            self._none_stored = self.session.execute(held).first() is None
        if self._none_stored:
            return
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            asked = values(
                column("want_row", String),
                column("resource", String),
                column("resource_id", String),
                column("starts_at", DateTime(timezone=True)),
                column("ends_at", DateTime(timezone=True)),
                name="wanted",
            ).data([(row_id, s.resource, s.resource_id, s.starts_at, s.ends_at) for row_id, s in chunk])
            w = asked.cte("wanted")
            stored = AppointmentSlot
            query = (
                select(
                    w.c.want_row, stored.row_id, stored.resource, stored.resource_id, stored.starts_at, stored.ends_at
                )
                .join_from(
                    stored,
                    w,
                    and_(
                        stored.resource == w.c.resource,
                        stored.resource_id == w.c.resource_id,
                        stored.starts_at < w.c.ends_at,
                        stored.ends_at > w.c.starts_at,
                        stored.row_id != w.c.want_row,
                    ),
                )
                .where(
                    stored.clinic_id == self.clinic_id,
                    # the same test on the range column, so PostgreSQL can use the exclusion's GiST index
                    *(
                        [text("appointment_slot.during && tstzrange(wanted.starts_at, wanted.ends_at, '[)')")]
                        if self._postgres
                        else []
                    ),
                )
            )
            for r in self.session.execute(query):
                slot = Slot(r.resource, r.resource_id, _aware(r.starts_at), _aware(r.ends_at))
                self._stored[r.want_row].append((r.row_id, slot))

    def flush(self) -> None:
        """Write the push's slot changes (inside the push's transaction)."""
        released = list(self._released)
        for start in range(0, len(released), 500):
            self.session.execute(
                delete(AppointmentSlot).where(
                    AppointmentSlot.clinic_id == self.clinic_id,
                    AppointmentSlot.row_id.in_(released[start : start + 500]),
                )
            )
        rows = [
            {
                "clinic_id": self.clinic_id,
                "row_id": row_id,
                "resource": s.resource,
                "resource_id": s.resource_id,
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
            }
            for row_id, slots in self._held.items()
            for s in slots
        ]
        if rows:
            try:
                self.session.execute(insert(AppointmentSlot), rows)
            except IntegrityError as exc:
                if getattr(exc.orig, "sqlstate", None) != _EXCLUSION_VIOLATION:
                    raise
                raise BookingsChanged from None
        self._released.clear()
        self._held.clear()
        self._by_day.clear()
        self._dropped.clear()
        self._none_stored = None
        self._stored.clear()
