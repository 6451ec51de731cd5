"""Appointment-book rules: intervals, working hours across clock changes, slot finding, visit states, recalls.

All instants are aware UTC datetimes; local wall-clock times appear only where a person
thinks in them (working hours, the booking grid, preferences, labels). Where a local time
does not exist or happens twice on a clock-change day, we follow zoneinfo with fold=0:
a time in the spring-forward gap is read with the offset in force before the change, so
02:30 on that day becomes 03:30 (moved forward by the gap), and a time in the repeated
autumn hour means its first occurrence.
"""

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import accumulate
from operator import attrgetter
from typing import Literal
from zoneinfo import ZoneInfo

from app.domain.errors import FieldError, UserError

MAX_APPOINTMENT = timedelta(hours=12)
DEFAULT_GRID = timedelta(minutes=10)
NOON = time(12)
DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1)
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_NAMES = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_start_of = attrgetter("start")


# --- intervals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open stretch of time [start, end) between two aware UTC instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        # a programming error, not a user's: make_interval gives the user-facing messages
        if self.start.utcoffset() is None or self.end.utcoffset() is None:
            raise ValueError("Interval needs aware datetimes")
        if not self.end > self.start:
            raise ValueError(f"Interval ends before it starts: {self.start} .. {self.end}")

    @property
    def duration(self) -> timedelta:
        """How much real time the interval covers."""
        return self.end - self.start

    def overlaps(self, other: "Interval") -> bool:
        """True when the two share some time; intervals that only touch do not overlap."""
        return self.start < other.end and other.start < self.end

    def contains(self, other: "Interval | datetime") -> bool:
        """True when an instant, or the whole of another interval, lies within this one."""
        if isinstance(other, Interval):
            return self.start <= other.start and other.end <= self.end
        return self.start <= other < self.end


def make_interval(start: datetime, end: datetime) -> Interval:
    """A checked appointment interval in UTC, with messages a receptionist understands."""
    if start.utcoffset() is None:
        raise FieldError("start", "The start time has no time zone.")
    if end.utcoffset() is None:
        raise FieldError("end", "The end time has no time zone.")
    if end <= start:
        raise FieldError("end", "The appointment must end after it starts.")
    if end - start > MAX_APPOINTMENT:
        raise FieldError("end", "The appointment cannot be longer than 12 hours.")
    return Interval(start.astimezone(UTC), end.astimezone(UTC))


def merge(intervals: Sequence[Interval]) -> list[Interval]:
    """The intervals sorted, with overlapping and touching ones joined into one."""
    out: list[Interval] = []
    for iv in sorted(intervals, key=_start_of):
        if out and iv.start <= out[-1].end:
            if iv.end > out[-1].end:
                out[-1] = Interval(out[-1].start, iv.end)
        else:
            out.append(iv)
    return out


def subtract(free: Sequence[Interval], busy: Sequence[Interval]) -> list[Interval]:
    """The parts of `free` not covered by any of `busy`, sorted and merged."""
    frees, busies = merge(free), merge(busy)
    out: list[Interval] = []
    j = 0
    for f in frees:
        s = f.start
        while j < len(busies) and busies[j].end <= s:
            j += 1
        k = j
        while k < len(busies) and busies[k].start < f.end:
            b = busies[k]
            if b.start > s:
                out.append(Interval(s, b.start))
            if b.end > s:
                s = b.end
            if s >= f.end:
                break
            k += 1
        # a busy stretch running past this free one may also cover the next free one
        j = k
        if s < f.end:
            out.append(Interval(s, f.end))
    return out


# --- local time ------------------------------------------------------------------------


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time (fold=0: gap times move forward, repeats mean the first)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def local_day_bounds(day: date, tz: ZoneInfo) -> Interval:
    """The real extent of a local calendar day: 23 or 25 hours on clock-change days."""
    return Interval(local_to_utc(day, time(0), tz), local_to_utc(day + DAY, time(0), tz))


def _exists(wall: datetime, tz: ZoneInfo, fold: int) -> datetime | None:
    """The local datetime for a wall time and fold, or None when the clocks skip it."""
    local = wall.replace(tzinfo=tz, fold=fold)
    back = local.astimezone(UTC).astimezone(tz)
    return local if back.replace(tzinfo=None) == wall else None


def grid_times(day: date, tz: ZoneInfo, step: timedelta, open: time, close: time) -> list[datetime]:
    """Local row times of a day view from `open` up to (not including) `close`.

    Wall-clock times the clocks skip are left out; those that happen twice appear twice
    (fold 0 then fold 1), so rows follow real time. A `close` at or before `open` means
    that time on the next day (00:00 to 00:00 is the whole day).
    """
    if step <= timedelta(0):
        raise FieldError("step", "The row step must be more than zero.")
    wall = datetime.combine(day, open)
    end = datetime.combine(day if close > open else day + DAY, close)
    rows: list[datetime] = []
    while wall < end:
        first = _exists(wall, tz, 0)
        if first is not None:
            rows.append(first)
            second = _exists(wall, tz, 1)
            if second is not None and second.utcoffset() != first.utcoffset():
                rows.append(second)
        wall += step
    rows.sort(key=lambda dt: dt.astimezone(UTC))
    return rows


# --- working hours ---------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyHours:
    """One stretch of a provider's usual week in local wall-clock time; an end at or before the start is next day."""

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise FieldError("weekday", "The weekday must be 0 (Monday) to 6 (Sunday).")


def _shift(day: date, start: time, end: time, tz: ZoneInfo) -> Interval | None:
    """One local shift as UTC; None when the clock change leaves nothing of it."""
    s = local_to_utc(day, start, tz)
    e = local_to_utc(day if end > start else day + DAY, end, tz)
    # a start in the spring-forward gap moves forward and can land on or after the end
    return Interval(s, e) if e > s else None


def working_intervals(
    hours: Sequence[WeeklyHours],
    tz: ZoneInfo,
    start_day: date,
    end_day: date,
    exceptions: Mapping[date, Sequence[tuple[time, time]]] | None = None,
) -> list[Interval]:
    """UTC working intervals for the local days start_day..end_day inclusive, merged and sorted.

    Each day's shifts are placed at their local wall-clock times, so an 08:00-17:00 day is 8
    real hours on spring-forward day and 10 on fall-back day in London. An exception date
    replaces that day's weekly hours; an empty list there means closed. Shifts belong to the
    day they start on, so an overnight shift from the day before still runs into a closed day.
    """
    by_weekday: dict[int, list[tuple[time, time]]] = {}
    for h in hours:
        by_weekday.setdefault(h.weekday, []).append((h.start, h.end))
    exceptions = exceptions or {}
    out: list[Interval] = []
    day = start_day
    while day <= end_day:
        shifts = exceptions[day] if day in exceptions else by_weekday.get(day.weekday(), ())
        for start, end in shifts:
            iv = _shift(day, start, end, tz)
            if iv is not None:
                out.append(iv)
        day += DAY
    return merge(out)


# --- slot finding ----------------------------------------------------------------------


@dataclass(frozen=True)
class SlotPreference:
    """What the patient asked for; with strict=False unmet wishes cost score instead of excluding a slot."""

    mornings_only: bool = False
    afternoons_only: bool = False
    excluded_weekdays: frozenset[int] = frozenset()
    earliest_local_time: time | None = None
    latest_local_time: time | None = None
    preferred_provider_ids: tuple[str, ...] = ()
    strict: bool = True

    def __post_init__(self) -> None:
        if self.mornings_only and self.afternoons_only:
            raise FieldError("mornings_only", "Choose mornings or afternoons, not both.")
        if (
            self.earliest_local_time is not None
            and self.latest_local_time is not None
            and self.earliest_local_time >= self.latest_local_time
        ):
            raise FieldError("latest_local_time", "The latest time must be after the earliest time.")
        if any(not 0 <= d <= 6 for d in self.excluded_weekdays):
            raise FieldError("excluded_weekdays", "Weekdays are 0 (Monday) to 6 (Sunday).")

    @property
    def filters_time(self) -> bool:
        """True when any wish depends on the slot's local day or time."""
        return bool(
            self.mornings_only
            or self.afternoons_only
            or self.excluded_weekdays
            or self.earliest_local_time is not None
            or self.latest_local_time is not None
        )

    def unmet(self, start: datetime, end: datetime) -> list[str]:
        """The wishes a slot of local start and end fails, as short phrases."""
        missed: list[str] = []
        t = start.time()
        if start.weekday() in self.excluded_weekdays:
            missed.append(f"not on {_WEEKDAY_NAMES[start.weekday()]}")
        if self.mornings_only and t >= NOON:
            missed.append("mornings only")
        if self.afternoons_only and t < NOON:
            missed.append("afternoons only")
        if self.earliest_local_time is not None and t < self.earliest_local_time:
            missed.append(f"not before {self.earliest_local_time:%H:%M}")
        if self.latest_local_time is not None and (end.date() != start.date() or end.time() > self.latest_local_time):
            missed.append(f"finished by {self.latest_local_time:%H:%M}")
        return missed


NO_PREFERENCE = SlotPreference()


@dataclass(frozen=True)
class SlotOption:
    """One bookable choice; a lower score is a better choice."""

    start: datetime
    end: datetime
    provider_id: str
    operatory_id: str
    score: float
    reason: str


# one rank down the preferred-provider list weighs as much as waiting one more day
PROVIDER_PENALTY_MINUTES = 24 * 60
# an unmet wish (when not strict) weighs as much as waiting a week
MISMATCH_PENALTY_MINUTES = 7 * 24 * 60
_MINUTE = timedelta(minutes=1)


class _Busy:
    """Sorted busy intervals answering 'is [t, e) free, and if not, until when?' by bisection."""

    __slots__ = ("starts", "max_ends")

    def __init__(self, intervals: Sequence[Interval]) -> None:
        ordered = sorted(intervals, key=_start_of)
        self.starts = [iv.start for iv in ordered]
        # running maximum of ends, so one lookup covers every interval that began earlier
        self.max_ends = list(accumulate((iv.end for iv in ordered), max))

    def blocked_until(self, t: datetime, e: datetime) -> datetime | None:
        """None when [t, e) is free; else the earliest time no start before it can be free."""
        i = bisect_left(self.starts, e)
        if i == 0:
            return None
        until = self.max_ends[i - 1]
        return until if until > t else None


def _align_up(t: datetime, tz: ZoneInfo, grid: timedelta) -> datetime:
    """The first instant at or after t whose local wall-clock time lies on the grid."""
    for _ in range(4):
        offset = t.astimezone(tz).utcoffset() or timedelta(0)
        rest = (t.replace(tzinfo=None) + offset - _EPOCH) % grid
        if not rest:
            break
        # moving forward may cross a clock change, so check again under the new offset
        t += grid - rest
    return t


def _next_local(t: datetime, tz: ZoneInfo, at: time | None) -> datetime:
    """The instant of local time `at` later today, or of the next local midnight when `at` is None."""
    local = t.astimezone(tz)
    if at is None:
        return local_to_utc(local.date() + DAY, time(0), tz)
    return local_to_utc(local.date(), at, tz)


def _skip_to(t: datetime, tz: ZoneInfo, prefer: SlotPreference, length: timedelta) -> datetime | None:
    """Under strict preferences: where the next acceptable start could be, or None when t is acceptable."""
    local = t.astimezone(tz)
    lt = local.time()
    if local.weekday() in prefer.excluded_weekdays:
        return _next_local(t, tz, None)
    if prefer.afternoons_only and lt < NOON:
        return _next_local(t, tz, NOON)
    if prefer.earliest_local_time is not None and lt < prefer.earliest_local_time:
        return _next_local(t, tz, prefer.earliest_local_time)
    if prefer.mornings_only and lt >= NOON:
        return _next_local(t, tz, None)
    if prefer.latest_local_time is not None:
        end = (t + length).astimezone(tz)
        # later starts the same day end later still, so the rest of the day is no good
        if end.date() != local.date() or end.time() > prefer.latest_local_time:
            return _next_local(t, tz, None)
    return None


def _provider_candidates(
    provider_id: str,
    rank: int,
    working: list[Interval],
    busy: _Busy,
    patient: _Busy,
    operatories: list[tuple[str, _Busy]],
    window: Interval,
    length: timedelta,
    grid: timedelta,
    tz: ZoneInfo,
    prefer: SlotPreference,
) -> Iterator[tuple[datetime, int, str, str]]:
    """Free starts for one provider in time order, as (start, rank, provider, operatory)."""
    strict_filter = prefer.strict and prefer.filters_time
    first = bisect_right([w.end for w in working], window.start)
    for w in working[first:]:
        if w.start >= window.end:
            break
        hi = min(w.end, window.end)
        t = _align_up(max(w.start, window.start), tz, grid)
        while t + length <= hi:
            e = t + length
            if strict_filter:
                skip = _skip_to(t, tz, prefer, length)
                if skip is not None:
                    t = _align_up(skip if skip > t else t + grid, tz, grid)
                    continue
            until = busy.blocked_until(t, e) or patient.blocked_until(t, e)
            if until is not None:
                t = _align_up(until, tz, grid)
                continue
            chosen: str | None = None
            soonest: datetime | None = None
            for op_id, op_busy in operatories:
                op_until = op_busy.blocked_until(t, e)
                if op_until is None:
                    chosen = op_id
                    break
                if soonest is None or op_until < soonest:
                    soonest = op_until
            if chosen is None:
                # every chair is taken until at least the soonest of them frees up
                assert soonest is not None
                t = _align_up(soonest, tz, grid)
                continue
            yield t, rank, provider_id, chosen
            t = _align_up(t + grid, tz, grid)


def _label(start: datetime, tz: ZoneInfo, provider: str, operatory: str) -> str:
    local = start.astimezone(tz)
    return (
        f"{_DAY_NAMES[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local:%H:%M}"
        f" with {provider} in {operatory}"
    )


def find_slots(
    *,
    length: timedelta,
    providers: Mapping[str, Sequence[Interval]],
    busy_by_provider: Mapping[str, Sequence[Interval]],
    operatories: Mapping[str, Sequence[Interval]],
    patient_busy: Sequence[Interval],
    window: Interval,
    tz: ZoneInfo,
    grid: timedelta = DEFAULT_GRID,
    prefer: SlotPreference = NO_PREFERENCE,
    use_operatories: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    limit: int = 10,
) -> list[SlotOption]:
    """The best `limit` places to book an appointment of `length` inside `window`, best first.

    A slot is offered only when the provider works for its whole length (`providers` holds
    working time with blocks already taken out), has no booking over it, the patient has
    none either, and a chair is free: the first free one of `use_operatories` (in that
    order), or of `operatories` (in dict order) when not given. `operatories` maps a chair
    to its bookings; a chair named in `use_operatories` but missing from it is free.
    Starts lie on the grid counted from local midnight in `tz`.

    Score (lower is better), in minutes: time from the window's start to the slot, plus
    PROVIDER_PENALTY_MINUTES (one day) per place a provider stands down the
    preferred_provider_ids list (providers not on it come after all listed ones), plus
    MISMATCH_PENALTY_MINUTES (one week) per unmet wish when preferences are not strict;
    strict preferences leave out the slots that fail them. Ties go to the earlier start,
    then the more preferred provider, then provider id. With no preferences this is plain
    earliest-first. The search walks forward in time and stops as soon as no later slot
    can beat the options already found.
    """
    if length <= timedelta(0):
        raise FieldError("length", "The appointment length must be more than zero.")
    if length > MAX_APPOINTMENT:
        raise FieldError("length", "The appointment cannot be longer than 12 hours.")
    if grid <= timedelta(0) or DAY % grid:
        raise FieldError("grid", "The booking grid must divide the day evenly, such as 5, 10 or 15 minutes.")
    if limit <= 0:
        return []
    op_ids = list(use_operatories) if use_operatories is not None else list(operatories)
    if not op_ids:
        return []
    ops = [(op_id, _Busy(operatories.get(op_id, ()))) for op_id in op_ids]
    patient = _Busy(patient_busy)
    preferred = {pid: i for i, pid in enumerate(prefer.preferred_provider_ids)}
    unlisted_rank = len(preferred)

    streams = [
        _provider_candidates(
            pid,
            preferred.get(pid, unlisted_rank),
            merge(working),
            _Busy(busy_by_provider.get(pid, ())),
            patient,
            ops,
            window,
            length,
            grid,
            tz,
            prefer,
        )
        for pid, working in providers.items()
    ]
    found: list[tuple[float, datetime, int, str, str]] = []
    worst: list[float] = []  # max-heap (negated) of the best `limit` scores so far
    for t, rank, pid, op_id in heapq.merge(*streams):
        waited = (t - window.start) / _MINUTE
        # every later candidate scores at least its wait, so none can now enter the top `limit`
        if len(worst) >= limit and waited >= -worst[0]:
            break
        score = waited + rank * PROVIDER_PENALTY_MINUTES
        if not prefer.strict and prefer.filters_time:
            score += MISMATCH_PENALTY_MINUTES * len(prefer.unmet(t.astimezone(tz), (t + length).astimezone(tz)))
        found.append((score, t, rank, pid, op_id))
        heapq.heappush(worst, -score)
        if len(worst) > limit:
            heapq.heappop(worst)

    names = labels or {}
    options: list[SlotOption] = []
    for score, t, _, pid, op_id in sorted(found)[:limit]:
        reason = _label(t, tz, names.get(pid, pid), names.get(op_id, op_id))
        missed = prefer.unmet(t.astimezone(tz), (t + length).astimezone(tz)) if not prefer.strict else []
        if missed:
            reason += f" (outside the patient's wishes: {', '.join(missed)})"
        options.append(SlotOption(t, t + length, pid, op_id, score, reason))
    return options


# --- visit states ----------------------------------------------------------------------


class VisitStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    ARRIVED = "arrived"
    SEATED = "seated"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    BROKEN = "broken"


_S = VisitStatus
# rebooking after a cancellation, no-show or broken appointment makes a new appointment, so
# the history of the old one stays true; that is why nothing leads back to scheduled
ALLOWED: dict[VisitStatus, frozenset[VisitStatus]] = {
    _S.SCHEDULED: frozenset({_S.CONFIRMED, _S.ARRIVED, _S.CANCELLED, _S.NO_SHOW, _S.BROKEN}),
    _S.CONFIRMED: frozenset({_S.ARRIVED, _S.CANCELLED, _S.NO_SHOW, _S.BROKEN}),
    # cancelled from arrived: the patient left before being seen
    _S.ARRIVED: frozenset({_S.SEATED, _S.CANCELLED, _S.BROKEN}),
    _S.SEATED: frozenset({_S.COMPLETED}),
    _S.COMPLETED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.NO_SHOW: frozenset(),
    _S.BROKEN: frozenset(),
}
FINAL = frozenset(s for s, targets in ALLOWED.items() if not targets)
ACTIVE = frozenset({_S.SCHEDULED, _S.CONFIRMED, _S.ARRIVED, _S.SEATED, _S.COMPLETED})

_SUBJECT = {
    _S.SCHEDULED: "A scheduled appointment",
    _S.CONFIRMED: "A confirmed appointment",
    _S.ARRIVED: "An appointment whose patient has arrived",
    _S.SEATED: "An appointment whose patient is in the chair",
    _S.COMPLETED: "A completed appointment",
    _S.CANCELLED: "A cancelled appointment",
    _S.NO_SHOW: "A no-show appointment",
    _S.BROKEN: "A broken appointment",
}
_DONE = {
    _S.SCHEDULED: "scheduled again",
    _S.CONFIRMED: "confirmed",
    _S.ARRIVED: "marked as arrived",
    _S.SEATED: "seated",
    _S.COMPLETED: "completed",
    _S.CANCELLED: "cancelled",
    _S.NO_SHOW: "marked as a no-show",
    _S.BROKEN: "marked as broken",
}
_ALREADY = {**_DONE, _S.SCHEDULED: "scheduled"}


class IllegalTransition(UserError):
    """An appointment was asked to move to a status it cannot reach from where it is."""

    def __init__(self, current: VisitStatus, target: VisitStatus) -> None:
        self.current = current
        self.target = target
        super().__init__(_transition_message(current, target))


def _transition_message(current: VisitStatus, target: VisitStatus) -> str:
    if current == target:
        return f"The appointment is already {_ALREADY[target]}."
    message = f"{_SUBJECT[current]} cannot be {_DONE[target]}"
    if target == _S.SCHEDULED and current in FINAL:
        message += "; book a new appointment instead"
    elif target == _S.SEATED and current in (_S.SCHEDULED, _S.CONFIRMED):
        message += "; mark the patient as arrived first"
    elif target == _S.COMPLETED and current in (_S.SCHEDULED, _S.CONFIRMED, _S.ARRIVED):
        message += "; seat the patient first"
    return message + "."


def transition(current: VisitStatus, target: VisitStatus) -> VisitStatus:
    """The new status, or IllegalTransition when the appointment cannot get there from here."""
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
    return target


def is_active(status: VisitStatus) -> bool:
    """True when the appointment holds its time; cancelled, no-show and broken ones free it."""
    return status in ACTIVE


# --- recalls ---------------------------------------------------------------------------

RECALL_DUE_AHEAD_DAYS = 30
RecallState = Literal["due", "overdue", "upcoming", "contacted"]


@dataclass(frozen=True)
class RecallRule:
    """A kind of recall, such as a six-monthly hygiene visit."""

    code: str
    name: str
    interval_months: int

    def __post_init__(self) -> None:
        if self.interval_months < 1:
            raise FieldError("interval_months", "A recall interval must be at least one month.")


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Aug + 6 months = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    # the first of the month after, minus one day, is the month's last day
    last = (date(year + month // 12, month % 12 + 1, 1) - DAY).day
    return date(year, month, min(day.day, last))


def recall_due(last_completed: date | None, rule: RecallRule, today: date) -> date | None:
    """When the next recall visit is due; None when the patient has never had one."""
    if last_completed is None:
        return None
    if last_completed > today:
        raise FieldError("last_completed", f"The last visit cannot be after today ({last_completed:%d %b %Y}).")
    return add_months(last_completed, rule.interval_months)


def recall_state(due: date, today: date, contacted: bool) -> RecallState:
    """Where a recall stands for the front desk's call list.

    upcoming: due more than RECALL_DUE_AHEAD_DAYS ahead; due: due today or within that
    many days; overdue: the due date has passed. Once someone has contacted the patient,
    a due or overdue recall shows as contacted so it is not chased twice; an upcoming one
    stays upcoming, since a contact mark from an earlier round should not hide it.
    """
    if due > today + timedelta(days=RECALL_DUE_AHEAD_DAYS):
        return "upcoming"
    if contacted:
        return "contacted"
    return "overdue" if due < today else "due"
