"""The day view: a column per operatory or provider, a row per grid step, drawn by hand.

Drawing by hand (not a widget per appointment) keeps a busy day of ten chairs quick to
paint and lets drags snap to the grid exactly.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QMenu, QSizePolicy, QWidget

from app.domain.scheduling import Interval, VisitStatus
from app.services.scheduling import AppointmentView, DayBook, Resource

TIME_GUTTER = 56
HEADER = 30
ROW_HEIGHT = 20  # pixels per grid step
MIN_COLUMN = 110
EDGE = 6  # pixels at an appointment's foot that resize rather than move

STATUS_MARK = {
    VisitStatus.SCHEDULED: "",
    VisitStatus.CONFIRMED: "✓ ",
    VisitStatus.ARRIVED: "➜ ",
    VisitStatus.SEATED: "● ",
    VisitStatus.COMPLETED: "✔ ",
}
MENU_STEPS = (
    (VisitStatus.CONFIRMED, "Confirm"),
    (VisitStatus.ARRIVED, "Arrived"),
    (VisitStatus.SEATED, "Seated"),
    (VisitStatus.COMPLETED, "Complete"),
    (VisitStatus.NO_SHOW, "No-show"),
    (VisitStatus.BROKEN, "Broken appointment"),
)


@dataclass
class _Drag:
    view: AppointmentView
    mode: str  # 'move' or 'resize'
    grab_offset: timedelta
    start: datetime
    end: datetime
    column: str


class DayView(QWidget):
    """Paints one DayBook; asks (by signal) to book, move, resize or change a visit's status."""

    book_requested = Signal(str, object, object)  # column id, start, end (aware UTC)
    move_requested = Signal(object, object, object, str)  # view, start, end, column id
    status_requested = Signal(object, object)  # view, VisitStatus
    cancel_requested = Signal(object)
    pinboard_requested = Signal(object)
    open_patient_requested = Signal(str)
    open_chart_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dayView")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.book: DayBook | None = None
        self.by = "operatory"
        self.colour_by = "provider"
        self.step = timedelta(minutes=10)
        self.open_at, self.close_at = time(7), time(19)
        self._drag: _Drag | None = None
        self._selecting: tuple[str, datetime, datetime] | None = None
        self._press: QPoint | None = None

    # --- data ----------------------------------------------------------------------------
    def set_book(self, book: DayBook, by: str = "operatory", step_minutes: int | None = None) -> None:
        self.book = book
        self.by = by
        self.step = timedelta(minutes=step_minutes or book.grid_minutes)
        self.open_at, self.close_at = self._opening_span(book)
        self.setMinimumHeight(HEADER + self.rows() * ROW_HEIGHT + 1)
        self.setMinimumWidth(TIME_GUTTER + max(1, len(self.columns())) * MIN_COLUMN)
        self.updateGeometry()
        self.update()

    def _opening_span(self, book: DayBook) -> tuple[time, time]:
        tz = self.tz
        starts = [iv.start.astimezone(tz) for ivs in book.available.values() for iv in ivs]
        ends = [iv.end.astimezone(tz) for ivs in book.available.values() for iv in ivs]
        starts += [a.starts_at.astimezone(tz) for a in book.appointments if a.starts_at]
        ends += [a.ends_at.astimezone(tz) for a in book.appointments if a.ends_at]
        open_h = min([s.hour for s in starts if s.date() == book.day] + [8]) - 1
        close_h = max([e.hour + (1 if e.minute else 0) for e in ends if e.date() == book.day] + [17]) + 1
        return time(max(open_h, 0)), time(min(close_h, 23), 59 if close_h >= 24 else 0)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.book.time_zone if self.book else "UTC")

    def columns(self) -> tuple[Resource, ...]:
        if self.book is None:
            return ()
        if self.by == "provider":
            working = set(self.book.available) | {a.provider_id for a in self.book.appointments}
            return tuple(p for p in self.book.providers if p.id in working)
        return self.book.operatories

    def rows(self) -> int:
        span = datetime.combine(
            self.book.day if self.book else datetime.now().date(), self.close_at
        ) - datetime.combine(self.book.day if self.book else datetime.now().date(), self.open_at)
        return max(1, int(span / self.step))

    # --- geometry --------------------------------------------------------------------------
    def day_start(self) -> datetime:
        assert self.book is not None
        return datetime.combine(self.book.day, self.open_at, tzinfo=self.tz)

    def column_width(self) -> float:
        return max(MIN_COLUMN, (self.width() - TIME_GUTTER) / max(1, len(self.columns())))

    def y_for(self, at: datetime) -> float:
        """Pixels from the top for an instant (wall-clock rows; a skipped hour simply isn't drawn)."""
        local = at.astimezone(self.tz).replace(tzinfo=None)
        start = self.day_start().replace(tzinfo=None)
        return HEADER + (local - start) / self.step * ROW_HEIGHT

    def time_for(self, y: float) -> datetime:
        """The grid time under a y position, snapped down to the grid."""
        rows = max(0, int((y - HEADER) // ROW_HEIGHT))
        wall = self.day_start().replace(tzinfo=None) + rows * self.step
        return wall.replace(tzinfo=self.tz).astimezone(ZoneInfo("UTC"))

    def column_at(self, x: float) -> str | None:
        cols = self.columns()
        if x < TIME_GUTTER or not cols:
            return None
        index = int((x - TIME_GUTTER) // self.column_width())
        return cols[index].id if index < len(cols) else None

    def column_of(self, view: AppointmentView) -> str | None:
        return view.provider_id if self.by == "provider" else view.operatory_id

    def rect_for(
        self,
        view: AppointmentView,
        start: datetime | None = None,
        end: datetime | None = None,
        column: str | None = None,
    ) -> QRectF | None:
        ids = [c.id for c in self.columns()]
        col = column or self.column_of(view)
        if col not in ids or view.starts_at is None or view.ends_at is None:
            return None
        x = TIME_GUTTER + ids.index(col) * self.column_width()
        top, bottom = self.y_for(start or view.starts_at), self.y_for(end or view.ends_at)
        return QRectF(x + 2, top + 1, self.column_width() - 4, max(bottom - top - 2, 8))

    def appointment_at(self, pos: QPoint) -> AppointmentView | None:
        if self.book is None:
            return None
        for view in reversed(self.book.appointments):
            rect = self.rect_for(view)
            if rect is not None and rect.contains(pos):
                return view
        return None

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(TIME_GUTTER + max(1, len(self.columns())) * 160, HEADER + self.rows() * ROW_HEIGHT)

    # --- painting ----------------------------------------------------------------------------
    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#FFFFFF"))
        if self.book is None:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No location is set up yet.")
            return
        self._paint_shading(p)
        self._paint_grid(p)
        for view in self.book.appointments:
            self._paint_appointment(p, view)
        self._paint_feedback(p)
        self._paint_header(p)

    def _paint_grid(self, p: QPainter) -> None:
        width = self.width()
        small = QFont(self.font())
        small.setPointSizeF(max(7.5, small.pointSizeF() - 1))
        p.setFont(small)
        for row in range(self.rows() + 1):
            y = HEADER + row * ROW_HEIGHT
            wall = self.day_start() + row * self.step
            on_hour = wall.minute == 0
            p.setPen(QPen(QColor("#C9D1D6" if on_hour else "#ECEFF1")))
            p.drawLine(TIME_GUTTER, y, width, y)
            if on_hour and row < self.rows():
                p.setPen(QColor("#37474F"))
                p.drawText(QRect(0, y + 1, TIME_GUTTER - 6, ROW_HEIGHT), Qt.AlignmentFlag.AlignRight, f"{wall:%H:%M}")
        p.setPen(QPen(QColor("#CFD8DC")))
        for i in range(len(self.columns()) + 1):
            x = int(TIME_GUTTER + i * self.column_width())
            p.drawLine(x, HEADER, x, self.height())

    def _paint_shading(self, p: QPainter) -> None:
        """Grey where nobody can be booked: the provider's off-hours and blocks."""
        assert self.book is not None
        cols, width = self.columns(), self.column_width()
        top, bottom = HEADER, HEADER + self.rows() * ROW_HEIGHT
        p.fillRect(QRectF(TIME_GUTTER, top, width * len(cols), bottom - top), QColor("#ECEFF1"))
        if self.by == "provider":
            for i, col in enumerate(cols):
                self._fill_free(p, TIME_GUTTER + i * width, width, self.book.available.get(col.id, []))
        else:
            # a chair is bookable whenever any provider is: the same hours across every chair,
            # painted once (a column at a time, it was most of the day view's painting)
            every = [iv for ivs in self.book.available.values() for iv in ivs]
            self._fill_free(p, TIME_GUTTER, width * len(cols), every)
        block_colour = QColor(255, 224, 178, 160)
        for i, col in enumerate(cols):
            x = TIME_GUTTER + i * width
            for b in self.book.blocks:
                mine = b.operatory_id == col.id if self.by == "operatory" else b.provider_id == col.id
                if mine or (b.provider_id is None and b.operatory_id is None):
                    r = QRectF(
                        x,
                        self.y_for(b.interval.start),
                        width,
                        self.y_for(b.interval.end) - self.y_for(b.interval.start),
                    )
                    p.fillRect(r, block_colour)
                    p.setPen(QColor("#8D6E63"))
                    p.drawText(
                        r.adjusted(4, 2, -4, 0), Qt.AlignmentFlag.AlignTop, b.kind.replace("_", " ").capitalize()
                    )

    def _fill_free(self, p: QPainter, x: float, width: float, intervals: list[Interval]) -> None:
        """White over the bookable times; overlapping intervals merged first, so each pixel is
        filled once."""
        white = QColor("#FFFFFF")
        merged: list[list[datetime]] = []
        for iv in sorted(intervals, key=lambda iv: iv.start):
            if merged and iv.start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], iv.end)
            else:
                merged.append([iv.start, iv.end])
        for start, end in merged:
            top = self.y_for(start)
            p.fillRect(QRectF(x, top, width, self.y_for(end) - top), white)

    def _colour(self, view: AppointmentView) -> QColor:
        colour = QColor(view.provider_colour if self.colour_by == "provider" else view.type_colour)
        return colour if colour.isValid() else QColor("#90A4AE")

    def _paint_appointment(self, p: QPainter, view: AppointmentView) -> None:
        if self._drag is not None and self._drag.view.id == view.id:
            return  # drawn at its dragged place instead
        rect = self.rect_for(view)
        if rect is None:
            return
        self._paint_box(p, view, rect, self._colour(view))

    def _paint_box(self, p: QPainter, view: AppointmentView, rect: QRectF, colour: QColor) -> None:
        fill = QColor(colour)
        fill.setAlpha(60 if view.status is VisitStatus.COMPLETED else 110)
        # square boxes without antialiasing: four times cheaper than rounded ones, and a busy
        # day of ten chairs must paint well inside the 50 ms budget
        p.fillRect(rect, fill)
        p.setPen(QPen(colour.darker(130), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        p.fillRect(QRectF(rect.x(), rect.y(), 4, rect.height()), colour)
        tz = self.tz
        assert view.starts_at and view.ends_at
        alert = "⚠ " if view.has_alerts else ""
        first = f"{STATUS_MARK.get(view.status, '')}{alert}{view.patient_name}"
        second = f"{view.starts_at.astimezone(tz):%H:%M}–{view.ends_at.astimezone(tz):%H:%M} {view.type_name}"
        third = view.operatory_name if self.by == "provider" else view.provider_name
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(QColor("#B3261E") if view.has_alerts else QColor("#1B262C"))
        text_rect = rect.adjusted(8, 2, -4, -2)
        p.drawText(text_rect, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, first)
        p.setFont(self.font())
        p.setPen(QColor("#37474F"))
        line = p.fontMetrics().height()
        if text_rect.height() > line * 1.8:
            p.drawText(text_rect.adjusted(0, line, 0, 0), Qt.AlignmentFlag.AlignTop, second)
        if text_rect.height() > line * 2.8:
            p.drawText(text_rect.adjusted(0, 2 * line, 0, 0), Qt.AlignmentFlag.AlignTop, third)

    def _paint_feedback(self, p: QPainter) -> None:
        if self._drag is not None:
            rect = self.rect_for(self._drag.view, self._drag.start, self._drag.end, self._drag.column)
            if rect is not None:
                self._paint_box(p, self._drag.view, rect, self._colour(self._drag.view))
                p.setPen(QPen(QColor("#1565C0"), 2, Qt.PenStyle.DashLine))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(rect)
        if self._selecting is not None:
            col, start, end = self._selecting
            ids = [c.id for c in self.columns()]
            x = TIME_GUTTER + ids.index(col) * self.column_width()
            a, b = sorted((start, end))
            r = QRectF(x + 2, self.y_for(a), self.column_width() - 4, self.y_for(b) - self.y_for(a) + ROW_HEIGHT)
            p.fillRect(r, QColor(21, 101, 192, 50))

    def _paint_header(self, p: QPainter) -> None:
        p.fillRect(QRect(0, 0, self.width(), HEADER), QColor("#F5F7F8"))
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        for i, col in enumerate(self.columns()):
            x = TIME_GUTTER + i * self.column_width()
            if col.colour and self.by == "provider":
                p.fillRect(QRectF(x + 1, HEADER - 4, self.column_width() - 2, 4), QColor(col.colour))
            p.setPen(QColor("#263238"))
            p.drawText(QRectF(x, 0, self.column_width(), HEADER), Qt.AlignmentFlag.AlignCenter, col.name)
        p.setPen(QColor("#B0BEC5"))
        p.drawLine(0, HEADER, self.width(), HEADER)

    # --- mouse ----------------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if e.button() != Qt.MouseButton.LeftButton or self.book is None:
            return super().mousePressEvent(e)
        pos = e.position().toPoint()
        view = self.appointment_at(pos)
        self._press = pos
        if view is not None and view.status in (VisitStatus.SCHEDULED, VisitStatus.CONFIRMED):
            rect = self.rect_for(view)
            assert rect is not None and view.starts_at and view.ends_at
            mode = "resize" if rect.bottom() - pos.y() <= EDGE else "move"
            grab = self.time_for(pos.y()) - view.starts_at
            col = self.column_of(view) or ""
            self._drag = _Drag(view, mode, grab, view.starts_at, view.ends_at, col)
        elif view is None:
            col = self.column_at(pos.x())
            if col is not None and pos.y() > HEADER:
                t = self.time_for(pos.y())
                self._selecting = (col, t, t)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = e.position().toPoint()
        if self._drag is not None:
            d = self._drag
            assert d.view.starts_at and d.view.ends_at
            if d.mode == "resize":
                end = self.time_for(pos.y() + ROW_HEIGHT / 2)
                d.end = max(end, d.start + self.step)
            else:
                length = d.view.ends_at - d.view.starts_at
                d.start = self.time_for(pos.y()) - _snap(d.grab_offset, self.step)
                d.end = d.start + length
                d.column = self.column_at(pos.x()) or d.column
            self.update()
        elif self._selecting is not None:
            col, start, _ = self._selecting
            self._selecting = (col, start, self.time_for(pos.y()))
            self.update()
        else:
            view = self.appointment_at(pos)
            rect = self.rect_for(view) if view else None
            at_edge = rect is not None and rect.bottom() - pos.y() <= EDGE
            self.setCursor(Qt.CursorShape.SizeVerCursor if at_edge else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        drag, selecting, press = self._drag, self._selecting, self._press
        self._drag = self._selecting = self._press = None
        self.update()
        moved = press is not None and (e.position().toPoint() - press).manhattanLength() > 3
        if drag is not None and moved:
            assert drag.view.starts_at and drag.view.ends_at
            if (drag.start, drag.end, drag.column) != (
                drag.view.starts_at,
                drag.view.ends_at,
                self.column_of(drag.view),
            ):
                self.move_requested.emit(drag.view, drag.start, drag.end, drag.column)
        elif selecting is not None and moved:
            col, a, b = selecting
            start, end = sorted((a, b))
            self.book_requested.emit(col, start, end + self.step)

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = e.position().toPoint()
        view = self.appointment_at(pos)
        if view is not None:
            self.open_patient_requested.emit(view.patient_id)
            return
        col = self.column_at(pos.x())
        if col is not None and pos.y() > HEADER:
            start = self.time_for(pos.y())
            self.book_requested.emit(col, start, None)

    def contextMenuEvent(self, e) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt override
        view = self.appointment_at(e.pos())
        if view is None:
            return
        menu = self.status_menu(view)
        menu.exec(e.globalPos())

    def status_menu(self, view: AppointmentView) -> QMenu:
        """The right-click menu of an appointment: workflow steps allowed from its status."""
        from app.domain.scheduling import ALLOWED

        menu = QMenu(self)
        menu.setObjectName("appointmentMenu")
        allowed = ALLOWED[view.status]
        for status, label in MENU_STEPS:
            action = menu.addAction(label)
            action.setEnabled(status in allowed)
            action.triggered.connect(lambda _=False, s=status: self.status_requested.emit(view, s))
        menu.addSeparator()
        cancel = menu.addAction("Cancel appointment…")
        cancel.setEnabled(VisitStatus.CANCELLED in allowed)
        cancel.triggered.connect(lambda: self.cancel_requested.emit(view))
        pin = menu.addAction("Move to pinboard")
        pin.setEnabled(view.status in (VisitStatus.SCHEDULED, VisitStatus.CONFIRMED))
        pin.triggered.connect(lambda: self.pinboard_requested.emit(view))
        menu.addSeparator()
        menu.addAction("Open patient").triggered.connect(lambda: self.open_patient_requested.emit(view.patient_id))
        menu.addAction("Open chart").triggered.connect(lambda: self.open_chart_requested.emit(view.patient_id))
        return menu


def _snap(delta: timedelta, step: timedelta) -> timedelta:
    return (delta // step) * step
