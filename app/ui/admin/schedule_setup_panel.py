"""Schedule set-up for administrators: locations and chairs, providers' hours, blocks, exceptions, appointment types."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import FieldError, ValidationError
from app.services import schedule_setup as setup
from app.services.context import Ctx
from app.services.schedule_setup import (
    AppointmentTypeInfo,
    AppointmentTypeInput,
    BlockInfo,
    BlockInput,
    HoursExceptionInfo,
    LocationInfo,
    LocationInput,
    ProviderInfo,
    ShiftInfo,
)
from app.ui.errors import show_error
from app.ui.ops import run_op
from app.ui.signin.dialogs import _CheckedDialog

CHANGES = frozenset({"schedule_setup", "schedule"})


def _table(headers: tuple[str, ...], name: str) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    return table


def _button(text: str, name: str, slot: Callable[[], None]) -> QPushButton:
    b = QPushButton(text)
    b.setObjectName(name)
    b.clicked.connect(slot)
    return b


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


# --- dialogs: they collect input and check it without the database ---------------------------


class LocationDialog(_CheckedDialog):
    """A location's name, time zone, address, phone and booking grid."""

    def __init__(self, phone_region: str, current: LocationInfo | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Edit location" if current else "Add location", parent)
        self.name = QLineEdit(current.name if current else "")
        self.name.setObjectName("locationName")
        self.time_zone = QComboBox()
        self.time_zone.setObjectName("locationTimeZone")
        self.time_zone.setEditable(True)
        self.time_zone.addItems(setup.time_zone_names())
        self.time_zone.setCurrentText(current.time_zone if current else "America/New_York")
        self.address = QLineEdit(current.address if current else "")
        self.phone = QLineEdit(current.phone if current else "")
        self.grid = QComboBox()
        self.grid.setObjectName("locationGrid")
        for minutes in setup.GRID_CHOICES:
            self.grid.addItem(f"{minutes} minutes", minutes)
        self.grid.setCurrentIndex(setup.GRID_CHOICES.index(current.grid_minutes) if current else 1)
        self.form.addRow("&Name", self.name)
        self.form.addRow("&Time zone", self.time_zone)
        self.form.addRow("&Address", self.address)
        self.form.addRow("&Phone", self.phone)
        self.form.addRow("Booking &grid", self.grid)
        self.check = lambda: setup.check_location(self.value(), phone_region)  # type: ignore[assignment,return-value]
        self.setMinimumWidth(440)

    def value(self) -> LocationInput:
        return LocationInput(
            self.name.text(),
            self.time_zone.currentText(),
            self.address.text(),
            self.phone.text(),
            self.grid.currentData(),
        )


@dataclass
class _Choices:
    """What the block and exception dialogs offer: providers and chairs of the location."""

    providers: list[ProviderInfo] = field(default_factory=list)
    chairs: list[tuple[str, str]] = field(default_factory=list)  # (id, name)


class BlockDialog(_CheckedDialog):
    """A block: for everyone, a provider or a chair; on dates or every week."""

    def __init__(self, location: LocationInfo, choices: _Choices, parent: QWidget | None = None) -> None:
        super().__init__("Add block", parent)
        self.location = location
        self.kind = QComboBox()
        self.kind.setObjectName("blockKind")
        for key in setup.BLOCK_KINDS:
            self.kind.addItem(setup.BLOCK_LABELS[key], key)
        self.who = QComboBox()
        self.who.setObjectName("blockWho")
        self.who.addItem("Everyone at the location", ("", ""))
        for p in choices.providers:
            self.who.addItem(p.name, (p.id, ""))
        for chair_id, name in choices.chairs:
            self.who.addItem(f"Chair: {name}", ("", chair_id))
        self.weekly = QCheckBox("Every week")
        self.weekly.setObjectName("blockWeekly")
        self.weekday = QComboBox()
        self.weekday.addItems(list(setup.WEEKDAYS))
        today = _qdate(date.today())
        self.first = QDateEdit(today)
        self.first.setCalendarPopup(True)
        self.last = QDateEdit(today)
        self.last.setCalendarPopup(True)
        self.start = QLineEdit()
        self.start.setPlaceholderText("HH:MM (empty: all day)")
        self.end = QLineEdit()
        self.end.setPlaceholderText("HH:MM")
        self.note = QLineEdit()
        self.form.addRow("&Kind", self.kind)
        self.form.addRow("&For", self.who)
        self.form.addRow("", self.weekly)
        self.form.addRow("&Weekday", self.weekday)
        self.form.addRow("F&irst day", self.first)
        self.form.addRow("&Last day", self.last)
        self.form.addRow("&From", self.start)
        self.form.addRow("&Until", self.end)
        self.form.addRow("&Note", self.note)
        self.weekly.toggled.connect(self._weekly_changed)
        self._weekly_changed(False)
        self.check = lambda: setup.check_block(self.value(), location.time_zone)  # type: ignore[assignment,return-value]
        self.setMinimumWidth(420)

    def _weekly_changed(self, weekly: bool) -> None:
        self.weekday.setEnabled(weekly)
        self.first.setEnabled(not weekly)
        self.last.setEnabled(not weekly)

    def value(self) -> BlockInput:
        provider_id, chair_id = self.who.currentData()
        weekly = self.weekly.isChecked()
        return BlockInput(
            location_id=self.location.id,
            kind=self.kind.currentData(),
            provider_id=provider_id or None,
            operatory_id=chair_id or None,
            first_day=None if weekly else _pydate(self.first.date()),
            last_day=None if weekly else _pydate(self.last.date()),
            weekday=self.weekday.currentIndex() if weekly else None,
            start_local=self.start.text().strip() or None,
            end_local=self.end.text().strip() or None,
            note=self.note.text(),
        )


class ExceptionDialog(_CheckedDialog):
    """A date when the location or a provider is closed or works other hours."""

    def __init__(self, choices: _Choices, parent: QWidget | None = None) -> None:
        super().__init__("Add hours exception", parent)
        self.who = QComboBox()
        self.who.addItem("The whole location", "")
        for p in choices.providers:
            self.who.addItem(p.name, p.id)
        self.day = QDateEdit(_qdate(date.today()))
        self.day.setCalendarPopup(True)
        self.closed = QCheckBox("Closed all day")
        self.closed.setChecked(True)
        self.start = QLineEdit()
        self.start.setPlaceholderText("HH:MM")
        self.end = QLineEdit()
        self.end.setPlaceholderText("HH:MM")
        self.note = QLineEdit()
        self.form.addRow("&For", self.who)
        self.form.addRow("&Date", self.day)
        self.form.addRow("", self.closed)
        self.form.addRow("&From", self.start)
        self.form.addRow("&Until", self.end)
        self.form.addRow("&Note", self.note)
        self.closed.toggled.connect(lambda c: (self.start.setEnabled(not c), self.end.setEnabled(not c)))
        self.start.setEnabled(False)
        self.end.setEnabled(False)

        def check() -> None:
            if not self.closed.isChecked() and not (self.start.text().strip() and self.end.text().strip()):
                raise ValidationError([FieldError("start", "Give the hours, or tick 'Closed all day'.")])
            setup.check_exception(*self.times(), self.note.text())

        self.check = check

    def times(self) -> tuple[str | None, str | None]:
        if self.closed.isChecked():
            return None, None
        return self.start.text(), self.end.text()

    def value(self) -> tuple[date, str | None, str | None, str | None, str]:
        """(day, provider id or None for the location, start, end, note)."""
        start, end = self.times()
        return _pydate(self.day.date()), self.who.currentData() or None, start, end, self.note.text()


class AppointmentTypeDialog(_CheckedDialog):
    """An appointment type's name, usual length, colour and default procedures."""

    def __init__(self, current: AppointmentTypeInfo | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Edit appointment type" if current else "Add appointment type", parent)
        self.name = QLineEdit(current.name if current else "")
        self.name.setObjectName("typeName")
        self.minutes = QSpinBox()
        self.minutes.setObjectName("typeMinutes")
        self.minutes.setRange(5, setup.MAX_TYPE_MINUTES)
        self.minutes.setSingleStep(5)
        self.minutes.setSuffix(" min")
        self.minutes.setValue(current.default_minutes if current else 30)
        self.colour = QLineEdit(current.colour if current else "#4C8BF5")
        self.colour.setObjectName("typeColour")
        pick = QPushButton("Pick…")
        pick.clicked.connect(self._pick)
        row = QHBoxLayout()
        row.addWidget(self.colour)
        row.addWidget(pick)
        self.procedures = QLineEdit(", ".join(current.default_procedures) if current else "")
        self.procedures.setObjectName("typeProcedures")
        self.procedures.setPlaceholderText("Procedure codes, such as D0120, D1110")
        self.active = QCheckBox("Offered for new bookings")
        self.active.setChecked(current.active if current else True)
        self.form.addRow("&Name", self.name)
        self.form.addRow("&Length", self.minutes)
        self.form.addRow("&Colour", row)
        self.form.addRow("&Procedures", self.procedures)
        self.form.addRow("", self.active)
        self.check = lambda: setup.check_appointment_type(self.value())  # type: ignore[assignment,return-value]

    def _pick(self) -> None:
        chosen = QColorDialog.getColor(QColor(self.colour.text()), self, "Appointment colour")
        if chosen.isValid():
            self.colour.setText(chosen.name().upper())

    def value(self) -> AppointmentTypeInput:
        codes = tuple(c for c in self.procedures.text().replace(";", ",").split(",") if c.strip())
        return AppointmentTypeInput(
            self.name.text(), self.minutes.value(), self.colour.text(), codes, self.active.isChecked()
        )


# --- the panel -----------------------------------------------------------------------------


@dataclass
class _Snapshot:
    locations: list[LocationInfo]
    providers: list[ProviderInfo]
    types: list[AppointmentTypeInfo]
    blocks: list[BlockInfo]
    exceptions: list[HoursExceptionInfo]


class HoursEditor(QWidget):
    """A provider's week: seven rows, each closed or one or two shifts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(7, 6)
        self.table.setObjectName("hoursTable")
        self.table.setHorizontalHeaderLabels(("Day", "Closed", "Start", "End", "2nd start", "2nd end"))
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.closed: list[QCheckBox] = []
        self.fields: list[list[QLineEdit]] = []
        for day, name in enumerate(setup.WEEKDAYS):
            item = QTableWidgetItem(name)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.table.setItem(day, 0, item)
            closed = QCheckBox()
            closed.setObjectName(f"closed_{day}")
            closed.toggled.connect(lambda c, d=day: self._closed_changed(d, c))
            self.table.setCellWidget(day, 1, closed)
            self.closed.append(closed)
            row = []
            for col in range(4):
                edit = QLineEdit()
                edit.setObjectName(f"hours_{day}_{col}")
                edit.setPlaceholderText("HH:MM")
                self.table.setCellWidget(day, col + 2, edit)
                row.append(edit)
            self.fields.append(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)

    def _closed_changed(self, day: int, closed: bool) -> None:
        for edit in self.fields[day]:
            edit.setEnabled(not closed)

    def set_week(self, shifts: list[ShiftInfo]) -> None:
        by_day: dict[int, list[ShiftInfo]] = {}
        for s in shifts:
            by_day.setdefault(s.weekday, []).append(s)
        for day in range(7):
            todays = by_day.get(day, [])
            texts = [t for s in todays[:2] for t in (s.start, s.end)]
            for edit, text in zip(self.fields[day], texts + [""] * (4 - len(texts)), strict=True):
                edit.setText(text)
            self.closed[day].setChecked(not todays)

    def week(self) -> list[tuple[int, str, str]]:
        """The typed shifts as (weekday, start, end); a half-typed shift is kept so the check can name it."""
        out: list[tuple[int, str, str]] = []
        for day in range(7):
            if self.closed[day].isChecked():
                continue
            f = [e.text().strip() for e in self.fields[day]]
            for start, end in ((f[0], f[1]), (f[2], f[3])):
                if start or end:
                    out.append((day, start, end))
        return out


class ScheduleSetupPanel(QWidget):
    """The 'Schedule set-up' admin tab."""

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.snapshot = _Snapshot([], [], [], [], [])
        self.dialog: _CheckedDialog | None = None
        self.location_picker = QComboBox()
        self.location_picker.setObjectName("locationPicker")
        self.location_picker.currentIndexChanged.connect(lambda _i: self.refresh())
        top = QHBoxLayout()
        top.addWidget(QLabel("Location:"))
        top.addWidget(self.location_picker, 1)
        top.addWidget(_button("Add location…", "addLocation", self.add_location))
        top.addWidget(_button("Edit location…", "editLocation", self.edit_location))
        self.message = QLabel()
        self.message.setObjectName("setupMessage")
        self.message.setWordWrap(True)

        self.sections = QTabWidget()
        self.sections.addTab(self._chairs_section(), "Locations && chairs")
        self.sections.addTab(self._hours_section(), "Provider hours")
        self.sections.addTab(self._blocks_section(), "Blocks && exceptions")
        self.sections.addTab(self._types_section(), "Appointment types")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.sections)
        layout.addWidget(self.message)
        self.refresh()

    # -- sections --

    def _chairs_section(self) -> QWidget:
        w = QWidget()
        self.location_details = QLabel()
        self.location_details.setWordWrap(True)
        self.chairs = QListWidget()
        self.chairs.setObjectName("chairList")
        buttons = QHBoxLayout()
        for text, name, slot in (
            ("Add chair…", "addChair", self.add_chair),
            ("Rename…", "renameChair", self.rename_chair),
            ("Move up", "chairUp", lambda: self.move_chair(-1)),
            ("Move down", "chairDown", lambda: self.move_chair(1)),
            ("Take out of use / back", "toggleChair", self.toggle_chair),
        ):
            buttons.addWidget(_button(text, name, slot))
        buttons.addStretch()
        layout = QVBoxLayout(w)
        layout.addWidget(self.location_details)
        layout.addLayout(buttons)
        layout.addWidget(self.chairs)
        return w

    def _hours_section(self) -> QWidget:
        w = QWidget()
        self.provider_picker = QComboBox()
        self.provider_picker.setObjectName("providerPicker")
        self.provider_picker.currentIndexChanged.connect(lambda _i: self._load_hours())
        self.hours = HoursEditor()
        note = QLabel(
            "Times are the location's local time. Two shifts a day are allowed (e.g. 08:00–12:00 and "
            "13:00–17:00); lunch and meetings can also be blocks. Saving replaces the provider's whole week."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #5F6B73;")
        self.hours_message = QLabel()
        self.hours_message.setObjectName("hoursMessage")
        self.hours_message.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Provider:"))
        row.addWidget(self.provider_picker, 1)
        row.addWidget(_button("Save week", "saveHours", self.save_hours))
        layout = QVBoxLayout(w)
        layout.addLayout(row)
        layout.addWidget(note)
        layout.addWidget(self.hours)
        layout.addWidget(self.hours_message)
        return w

    def _blocks_section(self) -> QWidget:
        w = QWidget()
        self.blocks = _table(("Kind", "For", "When", "Note"), "blockTable")
        self.exceptions = _table(("Date", "For", "Hours", "Note"), "exceptionTable")
        b_buttons = QHBoxLayout()
        b_buttons.addWidget(_button("Add block…", "addBlock", self.add_block))
        b_buttons.addWidget(_button("Remove block", "removeBlock", self.remove_block))
        b_buttons.addStretch()
        e_buttons = QHBoxLayout()
        e_buttons.addWidget(_button("Add exception…", "addException", self.add_exception))
        e_buttons.addWidget(_button("Remove exception", "removeException", self.remove_exception))
        e_buttons.addStretch()
        layout = QVBoxLayout(w)
        layout.addWidget(QLabel("<b>Blocks</b> (time that cannot be booked)"))
        layout.addLayout(b_buttons)
        layout.addWidget(self.blocks)
        layout.addWidget(QLabel("<b>Exceptions</b> (dates closed or with other hours)"))
        layout.addLayout(e_buttons)
        layout.addWidget(self.exceptions)
        return w

    def _types_section(self) -> QWidget:
        w = QWidget()
        self.types = _table(("Name", "Length", "Colour", "Procedures", "Status"), "typeTable")
        buttons = QHBoxLayout()
        buttons.addWidget(_button("Add type…", "addType", self.add_type))
        buttons.addWidget(_button("Edit…", "editType", self.edit_type))
        buttons.addWidget(_button("Stop / resume offering", "toggleType", self.toggle_type))
        buttons.addStretch()
        layout = QVBoxLayout(w)
        layout.addLayout(buttons)
        layout.addWidget(self.types)
        return w

    # -- loading --

    def location(self) -> LocationInfo | None:
        loc_id = self.location_picker.currentData()
        return next((loc for loc in self.snapshot.locations if loc.id == loc_id), None)

    def provider(self) -> ProviderInfo | None:
        pid = self.provider_picker.currentData()
        return next((p for p in self.snapshot.providers if p.id == pid), None)

    def refresh(self) -> None:
        """Reload everything the tab shows, off the GUI thread."""
        ctx, wanted = self.ctx, self.location_picker.currentData()

        def load() -> _Snapshot:
            locations = setup.list_locations(ctx)
            loc_id = wanted if any(loc.id == wanted for loc in locations) else (locations[0].id if locations else None)
            blocks = setup.list_blocks(ctx, loc_id, date.today()) if loc_id else []
            exceptions = setup.list_hours_exceptions(ctx, loc_id, date.today()) if loc_id else []
            return _Snapshot(
                locations, setup.list_providers(ctx), setup.list_appointment_types(ctx), blocks, exceptions
            )

        run_op(load, self._show, lambda e: show_error(self, e))

    def _show(self, snap: _Snapshot) -> None:
        self.snapshot = snap
        current = self.location_picker.currentData()
        self.location_picker.blockSignals(True)
        self.location_picker.clear()
        for loc in snap.locations:
            self.location_picker.addItem(loc.name, loc.id)
        index = self.location_picker.findData(current)
        self.location_picker.setCurrentIndex(index if index >= 0 else (0 if snap.locations else -1))
        self.location_picker.blockSignals(False)
        if self.location_picker.currentData() != current and current is not None:
            self.refresh()  # the blocks shown belonged to another location
            return

        loc = self.location()
        if loc is None:
            self.location_details.setText("No location yet: add one to set up the book.")
        else:
            self.location_details.setText(
                f"<b>{loc.name}</b> — {loc.time_zone}, {loc.grid_minutes}-minute grid"
                + (f"<br>{loc.address}" if loc.address else "")
                + (f"<br>{loc.phone}" if loc.phone else "")
            )
        self.chairs.clear()
        for op in loc.operatories if loc else ():
            item = QListWidgetItem(op.name if op.active else f"{op.name} (out of use)")
            item.setData(Qt.ItemDataRole.UserRole, op.id)
            if not op.active:
                item.setForeground(Qt.GlobalColor.gray)
            self.chairs.addItem(item)

        chosen = self.provider_picker.currentData()
        self.provider_picker.blockSignals(True)
        self.provider_picker.clear()
        for p in snap.providers:
            self.provider_picker.addItem(f"{p.name} ({p.role.label})", p.id)
        index = self.provider_picker.findData(chosen)
        self.provider_picker.setCurrentIndex(index if index >= 0 else (0 if snap.providers else -1))
        self.provider_picker.blockSignals(False)
        self._load_hours()

        self.blocks.setRowCount(len(snap.blocks))
        for row, b in enumerate(snap.blocks):
            for col, text in enumerate((setup.BLOCK_LABELS.get(b.kind, b.kind), b.who, b.when, b.note)):
                self.blocks.setItem(row, col, QTableWidgetItem(text))
        self.exceptions.setRowCount(len(snap.exceptions))
        for row, x in enumerate(snap.exceptions):
            hours = "Closed" if x.closed else f"{x.start}–{x.end}"
            for col, text in enumerate((f"{x.day:%a %d %b %Y}", x.provider_name or "Everyone", hours, x.note)):
                self.exceptions.setItem(row, col, QTableWidgetItem(text))

        self.types.setRowCount(len(snap.types))
        for row, t in enumerate(snap.types):
            swatch = QTableWidgetItem(t.colour)
            swatch.setBackground(QColor(t.colour))
            # dark text on light colours, light text on dark ones
            swatch.setForeground(QColor("#000000" if QColor(t.colour).lightness() > 140 else "#FFFFFF"))
            cells = [
                QTableWidgetItem(t.name),
                QTableWidgetItem(f"{t.default_minutes} min"),
                swatch,
                QTableWidgetItem(", ".join(t.default_procedures)),
                QTableWidgetItem("Offered" if t.active else "Not offered"),
            ]
            for col, item in enumerate(cells):
                self.types.setItem(row, col, item)

    def _load_hours(self) -> None:
        loc, provider = self.location(), self.provider()
        self.hours_message.clear()
        if loc is None or provider is None:
            self.hours.set_week([])
            return
        ctx = self.ctx
        run_op(
            lambda: setup.provider_hours(ctx, loc.id, provider.id), self.hours.set_week, lambda e: show_error(self, e)
        )

    # -- changing --

    def _run(self, fn: Callable[[], Any], done: str = "Saved.") -> None:
        def finished(_result: Any) -> None:
            self.message.setText(done)
            self.refresh()

        run_op(fn, finished, lambda e: show_error(self, e), changes=CHANGES, origin=self)

    def _ask(self, dialog: Any, then: Callable[[Any], None]) -> None:
        """Show a dialog without a nested event loop; once accepted, `then` gets its value (read on the GUI thread)."""
        self.dialog = dialog  # the open one, for tests and so it is not collected
        dialog.accepted.connect(lambda: then(dialog.value()))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def add_location(self) -> None:
        dialog = LocationDialog(self.ctx.runtime.info.phone_region, None, self)
        self._ask(dialog, lambda data: self._run(lambda: setup.save_location(self.ctx, data), "Location added."))

    def edit_location(self) -> None:
        loc = self.location()
        if loc is None:
            return
        dialog = LocationDialog(self.ctx.runtime.info.phone_region, loc, self)
        self._ask(
            dialog,
            lambda data: self._run(lambda: setup.save_location(self.ctx, data, loc.id, loc.version), "Location saved."),
        )

    def _chair_id(self) -> str | None:
        item = self.chairs.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def add_chair(self) -> None:
        loc = self.location()
        if loc is None:
            return
        name, ok = QInputDialog.getText(
            self, "Add chair", "Name of the new chair:", text=f"Op {len(loc.operatories) + 1}"
        )
        if ok:
            self._run(lambda: setup.add_operatory(self.ctx, loc.id, name), "Chair added.")

    def rename_chair(self) -> None:
        chair_id, loc = self._chair_id(), self.location()
        if chair_id is None or loc is None:
            return
        old = next(o.name for o in loc.operatories if o.id == chair_id)
        name, ok = QInputDialog.getText(self, "Rename chair", "New name:", text=old)
        if ok:
            self._run(lambda: setup.rename_operatory(self.ctx, chair_id, name), "Chair renamed.")

    def move_chair(self, step: int) -> None:
        chair_id, loc = self._chair_id(), self.location()
        if chair_id is None or loc is None:
            return
        ids = [o.id for o in loc.operatories]
        i = ids.index(chair_id)
        j = i + step
        if not 0 <= j < len(ids):
            return
        ids[i], ids[j] = ids[j], ids[i]
        self._run(lambda: setup.reorder_operatories(self.ctx, loc.id, ids), "Order saved.")

    def toggle_chair(self) -> None:
        chair_id, loc = self._chair_id(), self.location()
        if chair_id is None or loc is None:
            return
        op = next(o for o in loc.operatories if o.id == chair_id)
        self._run(lambda: setup.set_operatory_active(self.ctx, op.id, not op.active))

    def save_hours(self) -> None:
        loc, provider = self.location(), self.provider()
        if loc is None or provider is None:
            return
        week = self.hours.week()
        self.hours_message.clear()

        def failed(e: Exception) -> None:
            # a refused week stays on screen with the reason beside it, nothing lost
            if isinstance(e, ValidationError):
                self.hours_message.setStyleSheet("color: #B3261E;")
                self.hours_message.setText(str(e))
            else:
                show_error(self, e)

        def done(saved: list[ShiftInfo]) -> None:
            self.hours_message.setStyleSheet("")
            self.hours_message.setText(f"Saved {provider.name}'s week.")
            self.hours.set_week(saved)

        run_op(
            lambda: setup.set_provider_hours(self.ctx, loc.id, provider.id, week),
            done,
            failed,
            changes=CHANGES,
            origin=self,
        )

    def _choices(self, loc: LocationInfo) -> _Choices:
        return _Choices(self.snapshot.providers, [(o.id, o.name) for o in loc.operatories if o.active])

    def add_block(self) -> None:
        loc = self.location()
        if loc is None:
            return
        dialog = BlockDialog(loc, self._choices(loc), self)
        self._ask(dialog, lambda data: self._run(lambda: setup.add_block(self.ctx, data), "Block added."))

    def remove_block(self) -> None:
        row = self.blocks.currentRow()
        if 0 <= row < len(self.snapshot.blocks):
            block_id = self.snapshot.blocks[row].id
            self._run(lambda: setup.remove_block(self.ctx, block_id), "Block removed.")

    def add_exception(self) -> None:
        loc = self.location()
        if loc is None:
            return
        dialog = ExceptionDialog(self._choices(loc), self)

        def accepted(value: tuple[date, str | None, str | None, str | None, str]) -> None:
            day, who, start, end, note = value
            self._run(
                lambda: setup.add_hours_exception(
                    self.ctx, loc.id, day, provider_id=who, start=start, end=end, note=note
                ),
                "Exception added.",
            )

        self._ask(dialog, accepted)

    def remove_exception(self) -> None:
        row = self.exceptions.currentRow()
        if 0 <= row < len(self.snapshot.exceptions):
            ex_id = self.snapshot.exceptions[row].id
            self._run(lambda: setup.remove_hours_exception(self.ctx, ex_id), "Exception removed.")

    def _type(self) -> AppointmentTypeInfo | None:
        row = self.types.currentRow()
        return self.snapshot.types[row] if 0 <= row < len(self.snapshot.types) else None

    def add_type(self) -> None:
        dialog = AppointmentTypeDialog(None, self)
        self._ask(
            dialog,
            lambda data: self._run(lambda: setup.save_appointment_type(self.ctx, data), "Appointment type added."),
        )

    def edit_type(self) -> None:
        t = self._type()
        if t is None:
            return
        dialog = AppointmentTypeDialog(t, self)
        self._ask(
            dialog,
            lambda data: self._run(
                lambda: setup.save_appointment_type(self.ctx, data, t.id), "Appointment type saved."
            ),
        )

    def toggle_type(self) -> None:
        t = self._type()
        if t is not None:
            self._run(lambda: setup.set_appointment_type_active(self.ctx, t.id, not t.active))
