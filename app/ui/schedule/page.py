"""The Schedule screen: day (by chair or provider), week and month views, pinboard, waiting room."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import UserError
from app.domain.permissions import Scope
from app.domain.scheduling import VisitStatus
from app.services import schedule_lookup, scheduling
from app.services.context import Ctx
from app.services.schedule_lookup import LocationChoice, TypeChoice
from app.services.scheduling import AppointmentView, DayBook, OutsideHours, Resource, StaleAppointment
from app.ui.errors import show_error
from app.ui.ops import bus, run_op
from app.ui.schedule.day_sheet import write_day_sheet_pdf
from app.ui.schedule.day_view import DayView
from app.ui.schedule.dialogs import BookingDialog, NextAvailableDialog, PatientAppointmentsDialog
from app.ui.schedule.month_view import MonthView
from app.ui.schedule.recall_dialog import RecallListDialog
from app.ui.schedule.week_view import WeekView, week_start

VIEWS = (("day-chairs", "Day — by chair"), ("day-providers", "Day — by provider"), ("week", "Week"), ("month", "Month"))
CHANGES = frozenset({"appointments"})


class SchedulePage(QWidget):
    open_patient = Signal(str)
    open_chart = Signal(str)

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.day = date.today()
        self.book: DayBook | None = None
        self.locations: list[LocationChoice] = []
        self.types: list[TypeChoice] = []
        self._stamp: str | None = None
        self.can_write = Scope.APPOINTMENTS_WRITE in (ctx.actor.scopes if ctx.actor else ())

        self.location = QComboBox()
        self.location.setObjectName("location")
        self.view = QComboBox()
        self.view.setObjectName("viewMode")
        for key, label in VIEWS:
            self.view.addItem(label, key)
        self.grid = QComboBox()
        for minutes in (5, 10, 15):
            self.grid.addItem(f"{minutes}-minute grid", minutes)
        self.grid.setCurrentIndex(1)
        self.colour = QComboBox()
        self.colour.addItem("Colour by provider", "provider")
        self.colour.addItem("Colour by type", "type")
        self.date_edit = QDateEdit(QDate.currentDate())
        self.date_edit.setObjectName("jumpDate")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        self.week_provider = QComboBox()
        self.week_provider.setObjectName("weekProvider")
        self.week_provider.setToolTip("Whose week to show")
        prev_b, today_b, next_b = QPushButton("◀"), QPushButton("Today"), QPushButton("▶")
        prev_b.setToolTip("Previous (Alt+Left)")
        next_b.setToolTip("Next (Alt+Right)")
        prev_b.setShortcut("Alt+Left")
        next_b.setShortcut("Alt+Right")
        today_b.setShortcut("Ctrl+T")
        prev_b.clicked.connect(lambda: self.step(-1))
        next_b.clicked.connect(lambda: self.step(1))
        today_b.clicked.connect(lambda: self.go_to_day(date.today()))
        self.title = QLabel()
        self.title.setObjectName("scheduleTitle")
        self.title.setStyleSheet("font-size: 18px; font-weight: 600;")
        next_free = QPushButton("Next available…")
        next_free.setObjectName("nextAvailable")
        next_free.clicked.connect(self.next_available)
        next_free.setEnabled(self.can_write)
        find = QPushButton("Patient's appointments…")
        find.clicked.connect(self.patient_appointments)
        recalls_b = QPushButton("Recalls…")
        recalls_b.setObjectName("recalls")
        recalls_b.setToolTip("Patients due back: book them, send a reminder, or note a call")
        recalls_b.clicked.connect(self.recall_list)
        print_b = QPushButton("Day sheet PDF…")
        print_b.clicked.connect(self.print_day_sheet)

        top = QHBoxLayout()
        for w in (
            self.location,
            prev_b,
            today_b,
            next_b,
            self.date_edit,
            self.view,
            self.week_provider,
            self.grid,
            self.colour,
        ):
            top.addWidget(w)
        top.addStretch()
        actions = QHBoxLayout()
        actions.addWidget(self.title)
        actions.addSpacing(16)
        actions.addWidget(next_free)
        actions.addWidget(find)
        actions.addWidget(recalls_b)
        actions.addWidget(print_b)
        actions.addStretch()
        self.message = QLabel()
        self.message.setObjectName("scheduleMessage")
        self.message.setWordWrap(True)
        actions.addWidget(self.message, 2)

        self.day_view = DayView()
        self.week_view = WeekView()
        self.month_view = MonthView()
        self.stack = QStackedWidget()
        for w in (self.day_view, self.week_view, self.month_view):
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(w)
            self.stack.addWidget(scroll)

        self.pinboard = QListWidget()
        self.pinboard.setObjectName("pinboard")
        self.pinboard.setToolTip("Select one, then double-click a free slot to put it back on the book")
        self.pinboard_views: list[AppointmentView] = []
        self.waiting = QListWidget()
        self.waiting.setObjectName("waitingRoom")
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(QLabel("<b>Waiting room</b>"))
        sl.addWidget(self.waiting, 1)
        sl.addWidget(QLabel("<b>Pinboard</b> (to rebook)"))
        sl.addWidget(self.pinboard, 1)
        hint = QLabel("Select, then double-click a free slot.")
        hint.setStyleSheet("color: #5F6B73;")
        sl.addWidget(hint)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.stack)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([1100, 240])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(actions)
        layout.addWidget(splitter, 1)

        self.location.currentIndexChanged.connect(lambda _i: self.reload())
        self.view.currentIndexChanged.connect(lambda _i: self.reload())
        self.grid.currentIndexChanged.connect(lambda _i: self.reload())
        self.week_provider.currentIndexChanged.connect(lambda _i: self.reload())
        self.colour.currentIndexChanged.connect(self._recolour)
        self.date_edit.dateChanged.connect(lambda d: self.go_to_day(d.toPython()))
        self.day_view.book_requested.connect(self._book_requested)
        self.day_view.move_requested.connect(self._move_requested)
        self.day_view.status_requested.connect(self._status_requested)
        self.day_view.cancel_requested.connect(self._cancel_requested)
        self.day_view.pinboard_requested.connect(self._pinboard_requested)
        self.day_view.open_patient_requested.connect(self.open_patient)
        self.day_view.open_chart_requested.connect(self.open_chart)
        self.week_view.day_chosen.connect(self._open_day)
        self.month_view.day_chosen.connect(self._open_day)
        bus.changes_applied.connect(self._on_changes)
        # other users' changes (another window now, other workstations via sync) show within a second
        self.poll = QTimer(self)
        self.poll.setInterval(1000)
        self.poll.timeout.connect(self._check_stamp)
        self._loaded = False

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt override
        # the book loads when first shown, not while the main window starts
        if not self._loaded:
            self._loaded = True
            self.load_choices()
        self.poll.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt override
        self.poll.stop()
        super().hideEvent(event)

    # --- loading -------------------------------------------------------------------------------
    def load_choices(self) -> None:
        def done(result: tuple[list[LocationChoice], list[TypeChoice]]) -> None:
            self.locations, self.types = result
            self.location.blockSignals(True)
            self.location.clear()
            for loc in self.locations:
                self.location.addItem(loc.name, loc.id)
            self.location.blockSignals(False)
            self.reload()

        run_op(
            lambda: (schedule_lookup.locations(self.ctx), schedule_lookup.appointment_types(self.ctx)),
            done,
            lambda e: show_error(self, e),
        )

    def location_id(self) -> str | None:
        return self.location.currentData()

    def tz(self) -> ZoneInfo:
        loc = next((x for x in self.locations if x.id == self.location_id()), None)
        return ZoneInfo(loc.time_zone if loc else "UTC")

    def mode(self) -> str:
        return str(self.view.currentData())

    def reload(self) -> None:
        location_id = self.location_id()
        if location_id is None:
            self.title.setText("No location is set up yet (Admin → Schedule set-up)")
            return
        mode, day = self.mode(), self.day
        self.stack.setCurrentIndex({"week": 1, "month": 2}.get(mode, 0))
        self.week_provider.setVisible(mode == "week")
        if mode.startswith("day"):
            self.title.setText(f"{day:%A} {day.day} {day:%B %Y}")
            run_op(lambda: scheduling.day_book(self.ctx, location_id, day), self._show_day, self._failed)
            run_op(
                lambda: (scheduling.pinboard(self.ctx, location_id), scheduling.waiting_room(self.ctx, location_id)),
                self._show_side,
                self._failed,
            )
        elif mode == "week":
            first = week_start(day)
            self.title.setText(f"Week of {first.day} {first:%B %Y}")

            def load_week() -> tuple[list[AppointmentView], DayBook]:
                return (
                    scheduling.range_appointments(self.ctx, location_id, first, first + timedelta(days=6)),
                    scheduling.day_book(self.ctx, location_id, first),
                )

            run_op(load_week, lambda r: self._show_week(first, r[0], list(r[1].providers)), self._failed)
        else:
            self.title.setText(f"{day:%B %Y} — free capacity")
            run_op(
                lambda: scheduling.month_capacity(self.ctx, location_id, day.year, day.month),
                lambda cap: self.month_view.set_month(day.year, day.month, cap),
                self._failed,
            )

    def _show_week(self, first: date, views: list[AppointmentView], providers: list[Resource]) -> None:
        chosen = self.week_provider.currentData()
        if self.week_provider.count() != len(providers) + 1:
            self.week_provider.blockSignals(True)
            self.week_provider.clear()
            self.week_provider.addItem("All providers", None)
            for r in providers:
                self.week_provider.addItem(r.name, r.id)
            self.week_provider.setCurrentIndex(max(0, self.week_provider.findData(chosen)))
            self.week_provider.blockSignals(False)
        if chosen:
            views = [v for v in views if v.provider_id == chosen]
            providers = [r for r in providers if r.id == chosen]
        self.week_view.set_week(first, views, providers, self.tz())

    def _show_day(self, book: DayBook) -> None:
        self.book = book
        self.day_view.colour_by = str(self.colour.currentData())
        by = "provider" if self.mode() == "day-providers" else "operatory"
        self.day_view.set_book(book, by, int(self.grid.currentData()))

    def _show_side(self, result: tuple[list[AppointmentView], list[tuple[AppointmentView, timedelta]]]) -> None:
        pins, waiting = result
        selected = self.selected_pin()
        self.pinboard_views = pins
        self.pinboard.clear()
        for v in pins:
            item = QListWidgetItem(f"{v.patient_name} — {v.type_name or 'appointment'} ({v.provider_name})")
            item.setData(Qt.ItemDataRole.UserRole, v.id)
            self.pinboard.addItem(item)
            if selected and selected.id == v.id:
                item.setSelected(True)
        self.waiting.clear()
        for v, wait in waiting:
            minutes = int(wait.total_seconds() // 60)
            self.waiting.addItem(f"{v.patient_name} — waiting {minutes} min ({v.provider_name})")
        if not waiting:
            self.waiting.addItem("Nobody is waiting.")

    def _recolour(self) -> None:
        self.day_view.colour_by = str(self.colour.currentData())
        self.day_view.update()

    def _check_stamp(self) -> None:
        def done(stamp: str) -> None:
            if self._stamp is not None and stamp != self._stamp:
                self.reload()
            self._stamp = stamp

        run_op(lambda: schedule_lookup.book_stamp(self.ctx), done, lambda _e: None)

    def _on_changes(self, areas: frozenset[str], _origin: object) -> None:
        if "appointments" in areas:
            self.reload()

    def _failed(self, error: Exception) -> None:
        if isinstance(error, StaleAppointment):
            self.reload()
        if isinstance(error, UserError):
            self.say(str(error), ok=False)
            return
        show_error(self, error)

    def say(self, text: str, ok: bool = True) -> None:
        self.message.setStyleSheet(f"color: {'#1B5E20' if ok else '#B3261E'};")
        self.message.setText(text)

    # --- navigation --------------------------------------------------------------------------
    def go_to_day(self, day: date) -> None:
        if day == self.day and self.date_edit.date().toPython() == day:
            return
        self.day = day
        self.date_edit.blockSignals(True)
        self.date_edit.setDate(QDate(day.year, day.month, day.day))
        self.date_edit.blockSignals(False)
        self.reload()

    def step(self, direction: int) -> None:
        mode = self.mode()
        if mode == "month":
            month = self.day.month - 1 + direction
            self.go_to_day(date(self.day.year + month // 12, month % 12 + 1, 1))
        else:
            self.go_to_day(self.day + timedelta(days=7 if mode == "week" else 1) * direction)

    def _open_day(self, day: date) -> None:
        self.view.setCurrentIndex(0)
        self.go_to_day(day)

    # --- changes ------------------------------------------------------------------------------
    def selected_pin(self) -> AppointmentView | None:
        items = self.pinboard.selectedItems()
        if not items:
            return None
        pid = items[0].data(Qt.ItemDataRole.UserRole)
        return next((v for v in self.pinboard_views if v.id == pid), None)

    def _run(self, fn, done_text: str) -> None:  # type: ignore[no-untyped-def]
        run_op(fn, lambda _v: self.say(done_text), self._failed, changes=CHANGES, origin=self)

    def _book_requested(self, column: str, start: datetime, end: datetime | None) -> None:
        if self.book is None or not self.can_write:
            return
        by_provider = self.day_view.by == "provider"
        pin = self.selected_pin()
        if pin is not None:
            length = timedelta(minutes=pin.minutes or 30) if pin.starts_at else timedelta(minutes=30)
            self._move(pin, start, start + length, column)
            self.pinboard.clearSelection()
            return
        provider = column if by_provider else self._provider_at(start)
        chair = None if by_provider else column
        if by_provider:
            chair = self.book.operatories[0].id if self.book.operatories else None
        dialog = BookingDialog(
            self.ctx,
            location_id=self.book.location_id,
            tz=self.tz(),
            day=self.day,
            start=start,
            length=(end - start) if end else timedelta(minutes=self.book.grid_minutes * 3),
            provider_id=provider,
            operatory_id=chair,
            providers=list(self.book.providers),
            operatories=list(self.book.operatories),
            types=self.types,
            parent=self,
        )
        if dialog.exec() and dialog.booked:
            self.say(f"Booked {dialog.booked.patient_name}.")
            bus.changes_applied.emit(CHANGES, self)

    def _provider_at(self, start: datetime) -> str | None:
        """The first provider whose bookable time holds this start (a sensible default)."""
        assert self.book is not None
        for pid, free in self.book.available.items():
            if any(iv.start <= start < iv.end for iv in free):
                return pid
        return self.book.providers[0].id if self.book.providers else None

    def _move_requested(self, view: AppointmentView, start: datetime, end: datetime, column: str) -> None:
        if self.can_write:
            self._move(view, start, end, column)

    def _move(self, view: AppointmentView, start: datetime, end: datetime, column: str, reason: str = "") -> None:
        by_provider = self.day_view.by == "provider"

        def call() -> AppointmentView:
            return scheduling.move(
                self.ctx,
                view.id,
                view.version,
                start,
                end,
                provider_id=column if by_provider else None,
                operatory_id=None if by_provider else column,
                outside_hours_reason=reason,
            )

        def failed(error: Exception) -> None:
            if isinstance(error, OutsideHours) and not reason and "give a reason" in str(error):
                text, ok = QInputDialog.getText(
                    self,
                    "Outside working hours",
                    "That time is outside the provider's hours. Reason to book it anyway:",
                )
                if ok and text.strip():
                    self._move(view, start, end, column, text)
                    return
            self._failed(error)
            self.reload()

        run_op(call, lambda v: self.say(f"Moved {v.patient_name}."), failed, changes=CHANGES, origin=self)

    def _status_requested(self, view: AppointmentView, status: VisitStatus) -> None:
        self._run(
            lambda: scheduling.set_status(self.ctx, view.id, view.version, status),
            f"{view.patient_name}: {status.value.replace('_', '-')}.",
        )

    def _cancel_requested(self, view: AppointmentView) -> None:
        reason, ok = QInputDialog.getText(self, "Cancel appointment", f"Why is {view.patient_name} cancelling?")
        if ok:
            self._run(
                lambda: scheduling.set_status(self.ctx, view.id, view.version, VisitStatus.CANCELLED, reason),
                f"Cancelled {view.patient_name}'s appointment.",
            )

    def _pinboard_requested(self, view: AppointmentView) -> None:
        self._run(
            lambda: scheduling.to_pinboard(self.ctx, view.id, view.version), f"{view.patient_name} is on the pinboard."
        )

    def next_available(self) -> None:
        if self.book is None:
            return
        dialog = NextAvailableDialog(
            self.ctx,
            location_id=self.book.location_id,
            providers=list(self.book.providers),
            operatories=list(self.book.operatories),
            types=self.types,
            parent=self,
        )
        if dialog.exec() and dialog.booked and dialog.booked.starts_at:
            self.say(f"Booked {dialog.booked.patient_name}.")
            self.go_to_day(dialog.booked.starts_at.astimezone(self.tz()).date())

    def recall_list(self) -> None:
        if self.book is None:
            return
        RecallListDialog(
            self.ctx,
            self.book.location_id,
            list(self.book.providers),
            list(self.book.operatories),
            self.types,
            self,
        ).exec()

    def patient_appointments(self) -> None:
        dialog = PatientAppointmentsDialog(
            self.ctx, lambda v: self._open_day(v.starts_at.astimezone(ZoneInfo(v.time_zone)).date()), self
        )
        dialog.exec()

    def print_day_sheet(self) -> None:
        if self.book is None:
            return
        name, _ = QFileDialog.getSaveFileName(
            self, "Save the day sheet", f"day-sheet-{self.day.isoformat()}.pdf", "PDF (*.pdf)"
        )
        if name:
            by = "provider" if self.mode() == "day-providers" else "operatory"
            write_day_sheet_pdf(name, self.book, by, self.ctx.runtime.info.date_order)
            self.say(f"Saved the day sheet to {name}.")
