"""Dialogs of the appointment book: book, find the next free slot, a patient's appointments."""

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, Qt, QTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from app.domain.dates import format_date
from app.domain.errors import UserError
from app.domain.patients import PatientInput
from app.domain.scheduling import SlotOption, SlotPreference
from app.services import patients, scheduling
from app.services.context import Ctx
from app.services.schedule_lookup import TypeChoice
from app.services.scheduling import AppointmentView, BookingRequest, Resource, SlotQuery
from app.ui.errors import show_error
from app.ui.ops import run_op
from app.ui.patients.search import PatientSearchPanel
from app.ui.signin.dialogs import _CheckedDialog

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class QuickPatientDialog(_CheckedDialog):
    """Register a walk-in or new caller with the essentials; the full record can follow."""

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__("New patient", parent)
        self.first, self.last, self.dob, self.mobile = QLineEdit(), QLineEdit(), QLineEdit(), QLineEdit()
        example = "31/12/1980" if ctx.runtime.info.date_order == "DMY" else "12/31/1980"
        self.dob.setPlaceholderText(example)
        for label, w in (
            ("First name *", self.first),
            ("Last name *", self.last),
            ("Date of birth *", self.dob),
            ("Mobile", self.mobile),
        ):
            self.form.addRow(label, w)
        self.created: patients.PatientRecord | None = None

        def check() -> None:
            self.created = patients.register(
                ctx, PatientInput(self.first.text(), self.last.text(), self.dob.text(), mobile_phone=self.mobile.text())
            )

        self.check = check


class BookingDialog(_CheckedDialog):
    """Choose the patient and the details of a new appointment; OK books it (or explains why not)."""

    def __init__(
        self,
        ctx: Ctx,
        *,
        location_id: str,
        tz: ZoneInfo,
        day: date,
        start: datetime,
        length: timedelta,
        provider_id: str | None,
        operatory_id: str | None,
        providers: list[Resource],
        operatories: list[Resource],
        types: list[TypeChoice],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Book an appointment", parent)
        self.setMinimumWidth(620)
        self.ctx, self.location_id, self.tz, self.day = ctx, location_id, tz, day
        self.patient_id: str | None = None
        self.booked: AppointmentView | None = None
        self.search = PatientSearchPanel(ctx)
        self.search.setMinimumHeight(200)
        self.search.patient_chosen.connect(self._chose_patient)
        self.patient_label = QLabel("No patient chosen yet.")
        self.patient_label.setObjectName("bookingPatient")
        new_patient = QPushButton("New patient…")
        new_patient.clicked.connect(self._new_patient)
        row = QHBoxLayout()
        row.addWidget(self.patient_label, 1)
        row.addWidget(new_patient)
        self.type = QComboBox()
        self.type.setObjectName("bookingType")
        self.type.addItem("(no type)", None)
        for t in types:
            self.type.addItem(t.name, t)
        self.provider = _combo(providers, provider_id)
        self.provider.setObjectName("bookingProvider")
        self.operatory = _combo(operatories, operatory_id)
        self.operatory.setObjectName("bookingOperatory")
        self.start = QTimeEdit(QTime(start.astimezone(tz).hour, start.astimezone(tz).minute))
        self.start.setDisplayFormat("HH:mm")
        self.start.setObjectName("bookingStart")
        self.length = QSpinBox()
        self.length.setObjectName("bookingLength")
        self.length.setRange(5, 720)
        self.length.setSingleStep(5)
        self.length.setSuffix(" min")
        self.length.setValue(int(length.total_seconds() // 60))
        self.type.currentIndexChanged.connect(self._type_changed)
        self.note = QLineEdit()
        self.note.setPlaceholderText("For the team, e.g. 'prefers the window chair' (never sent to the patient)")
        self.reason = QLineEdit()
        self.reason.setObjectName("bookingReason")
        self.reason.setPlaceholderText("Only when booking outside working hours or over a block")
        box = QVBoxLayout()
        box.addWidget(self.search)
        box.addLayout(row)
        self.layout().insertLayout(1, box)  # type: ignore[union-attr]
        self.form.addRow("Type", self.type)
        self.form.addRow("Provider", self.provider)
        self.form.addRow("Chair", self.operatory)
        self.form.addRow(f"Start ({format_date(day, ctx.runtime.info.date_order)})", self.start)
        self.form.addRow("Length", self.length)
        self.form.addRow("Note", self.note)
        self.form.addRow("Reason (outside hours)", self.reason)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Book")
        self.check = self._book

    def _type_changed(self) -> None:
        t = self.type.currentData()
        if isinstance(t, TypeChoice):
            self.length.setValue(t.minutes)

    def _chose_patient(self, patient_id: str) -> None:
        row = next(r for r in self.search.model.rows if r.id == patient_id)
        self.choose_patient(patient_id, row.display_name)

    def choose_patient(self, patient_id: str, name: str) -> None:
        self.patient_id = patient_id
        self.patient_label.setText(f"Patient: <b>{name}</b>")

    def _new_patient(self) -> None:
        dialog = QuickPatientDialog(self.ctx, self)
        if dialog.exec() and dialog.created:
            self.choose_patient(dialog.created.id, dialog.created.display_name)

    def request(self) -> BookingRequest:
        if self.patient_id is None:
            raise UserError("Choose the patient first (search above, or 'New patient…').")
        t = self.start.time()
        start = datetime.combine(self.day, time(t.hour(), t.minute()), tzinfo=self.tz).astimezone(ZoneInfo("UTC"))
        kind = self.type.currentData()
        return BookingRequest(
            patient_id=self.patient_id,
            provider_id=self.provider.currentData(),
            location_id=self.location_id,
            starts_at=start,
            ends_at=start + timedelta(minutes=self.length.value()),
            operatory_id=self.operatory.currentData(),
            type_id=kind.id if isinstance(kind, TypeChoice) else None,
            note=self.note.text(),
            outside_hours_reason=self.reason.text(),
        )

    def _book(self) -> None:
        self.booked = scheduling.book(self.ctx, self.request())


def _combo(items: list[Resource], current: str | None) -> QComboBox:
    combo = QComboBox()
    for r in items:
        combo.addItem(r.name, r.id)
    if current is not None:
        combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


class NextAvailableDialog(QDialog):
    """Find ranked free slots for a type or length and book the chosen one in one step."""

    def __init__(
        self,
        ctx: Ctx,
        *,
        location_id: str,
        providers: list[Resource],
        operatories: list[Resource],
        types: list[TypeChoice],
        patient: tuple[str, str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Next available")
        self.setMinimumSize(760, 560)
        self.ctx, self.location_id = ctx, location_id
        self.options: list[SlotOption] = []
        self.booked: AppointmentView | None = None
        self.patient: tuple[str, str] | None = patient
        self.type = QComboBox()
        self.type.setObjectName("slotType")
        for t in types:
            self.type.addItem(f"{t.name} ({t.minutes} min)", t)
        self.length = QSpinBox()
        self.length.setRange(5, 720)
        self.length.setSingleStep(5)
        self.length.setSuffix(" min")
        self.length.setValue(types[0].minutes if types else 30)
        self.type.currentIndexChanged.connect(lambda _i: self.length.setValue(self.type.currentData().minutes))
        self.providers = QListWidget()
        self.providers.setObjectName("slotProviders")
        self.providers.setMaximumHeight(110)
        for r in providers:
            item = QListWidgetItem(r.name)
            item.setData(Qt.ItemDataRole.UserRole, r.id)
            item.setCheckState(Qt.CheckState.Checked)
            self.providers.addItem(item)
        self.operatory = QComboBox()
        self.operatory.addItem("Any chair", None)
        for r in operatories:
            self.operatory.addItem(r.name, r.id)
        today = QDate.currentDate()
        self.first, self.last = QDateEdit(today), QDateEdit(today.addMonths(3))
        for d in (self.first, self.last):
            d.setCalendarPopup(True)
        self.any_time, self.mornings, self.afternoons = (
            QRadioButton("Any time"),
            QRadioButton("Mornings"),
            QRadioButton("Afternoons"),
        )
        self.any_time.setChecked(True)
        self.not_days = [QCheckBox(f"not {d}") for d in WEEKDAYS]
        self.patient_label = QLabel(f"Patient: <b>{patient[1]}</b>" if patient else "Patient: choose below")
        self.search = PatientSearchPanel(ctx)
        self.search.setMaximumHeight(150)
        self.search.patient_chosen.connect(self._chose_patient)
        find = QPushButton("Find slots")
        find.setObjectName("findSlots")
        find.clicked.connect(self.find)
        self.results = QListWidget()
        self.results.setObjectName("slotResults")
        self.message = QLabel()
        self.message.setStyleSheet("color: #B3261E;")
        self.message.setWordWrap(True)
        self.book_button = QPushButton("Book selected")
        self.book_button.setObjectName("bookSlot")
        self.book_button.clicked.connect(self.book_selected)
        self.results.itemDoubleClicked.connect(lambda _i: self.book_selected())

        form = QFormLayout()
        form.addRow("Type", self.type)
        form.addRow("Length", self.length)
        form.addRow("Providers", self.providers)
        form.addRow("Chair", self.operatory)
        dates = QHBoxLayout()
        dates.addWidget(self.first)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.last)
        form.addRow("Between", dates)
        when = QHBoxLayout()
        for w in (self.any_time, self.mornings, self.afternoons):
            when.addWidget(w)
        form.addRow("Time of day", when)
        days = QHBoxLayout()
        for w in self.not_days:
            days.addWidget(w)
        form.addRow("Days", days)
        patient_box = QGroupBox("Patient")
        pl = QVBoxLayout(patient_box)
        pl.addWidget(self.patient_label)
        if patient is None:
            pl.addWidget(self.search)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(self.book_button)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(patient_box)
        layout.addWidget(find)
        layout.addWidget(self.results, 1)
        layout.addLayout(bottom)

    def _chose_patient(self, patient_id: str) -> None:
        row = next(r for r in self.search.model.rows if r.id == patient_id)
        self.patient = (patient_id, row.display_name)
        self.patient_label.setText(f"Patient: <b>{row.display_name}</b>")

    def query(self) -> SlotQuery:
        chosen = tuple(
            self.providers.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.providers.count())
            if self.providers.item(i).checkState() == Qt.CheckState.Checked
        )
        if not chosen:
            raise UserError("Tick at least one provider.")
        prefer = SlotPreference(
            mornings_only=self.mornings.isChecked(),
            afternoons_only=self.afternoons.isChecked(),
            excluded_weekdays=frozenset(i for i, box in enumerate(self.not_days) if box.isChecked()),
        )
        chair = self.operatory.currentData()
        return SlotQuery(
            location_id=self.location_id,
            length=timedelta(minutes=self.length.value()),
            first_day=self.first.date().toPython(),  # type: ignore[arg-type]
            last_day=self.last.date().toPython(),  # type: ignore[arg-type]
            provider_ids=chosen,
            operatory_ids=(chair,) if chair else (),
            patient_id=self.patient[0] if self.patient else None,
            prefer=prefer,
        )

    def find(self) -> None:
        self.message.clear()
        try:
            q = self.query()
        except UserError as e:
            self.message.setText(str(e))
            return
        run_op(lambda: scheduling.next_available(self.ctx, q), self._show, self._failed)

    def _show(self, options: list[SlotOption]) -> None:
        self.options = options
        self.results.clear()
        for o in options:
            self.results.addItem(o.reason)
        if options:
            self.results.setCurrentRow(0)
        else:
            self.message.setText("No free slot matches; widen the dates, providers or times.")

    def _failed(self, error: Exception) -> None:
        if isinstance(error, UserError):
            self.message.setText(str(error))
        else:
            show_error(self, error)

    def book_selected(self) -> None:
        row = self.results.currentRow()
        if row < 0 or row >= len(self.options):
            self.message.setText("Choose a slot from the list.")
            return
        if self.patient is None:
            self.message.setText("Choose the patient first.")
            return
        option, patient_id = self.options[row], self.patient[0]
        kind = self.type.currentData()
        type_id = kind.id if isinstance(kind, TypeChoice) else None

        def done(view: AppointmentView) -> None:
            self.booked = view
            self.accept()

        run_op(
            lambda: scheduling.book_slot(
                self.ctx, option, patient_id=patient_id, location_id=self.location_id, type_id=type_id
            ),
            done,
            self._failed,
            changes=frozenset({"appointments"}),
            origin=self,
        )


class PatientAppointmentsDialog(QDialog):
    """A patient's future and past appointments; choosing one opens its day."""

    def __init__(self, ctx: Ctx, on_open: Callable[[AppointmentView], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("A patient's appointments")
        self.setMinimumSize(640, 520)
        self.ctx, self.on_open = ctx, on_open
        self.views: list[AppointmentView] = []
        self.search = PatientSearchPanel(ctx)
        self.search.setMaximumHeight(200)
        self.search.patient_chosen.connect(self.load)
        self.list = QListWidget()
        self.list.setObjectName("patientAppointments")
        self.list.itemDoubleClicked.connect(self._open)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(QLabel("Appointments (newest first; double-click to open its day):"))
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)

    def load(self, patient_id: str) -> None:
        run_op(lambda: scheduling.patient_appointments(self.ctx, patient_id), self._show, lambda e: show_error(self, e))

    def _show(self, views: list[AppointmentView]) -> None:
        self.views = views
        self.list.clear()
        order = self.ctx.runtime.info.date_order
        for v in views:
            if v.starts_at is None:
                text = f"On the pinboard — {v.type_name or 'appointment'} with {v.provider_name}"
            else:
                local = v.starts_at.astimezone(ZoneInfo(v.time_zone))
                text = (
                    f"{format_date(local.date(), order)} {local:%H:%M} — {v.type_name or 'appointment'} with "
                    f"{v.provider_name} — {v.status.value.replace('_', '-')}"
                )
            self.list.addItem(text)
        if not views:
            self.list.addItem("No appointments.")

    def _open(self, _item: QListWidgetItem) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.views) and self.views[row].starts_at is not None:
            self.on_open(self.views[row])
            self.accept()
