"""The patient form: every field of the record, the alert banner, and field-level messages."""

from datetime import date

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.dates import age_on, format_date
from app.domain.patients import (
    AlertInput,
    AlertKind,
    ContactChannel,
    InsuranceInput,
    PatientInput,
    Relationship,
    Sex,
)
from app.domain.phones import display_phone
from app.services.context import Ctx
from app.services.patients import PatientRecord
from app.ui.patients.messages_tab import MessagesTab
from app.ui.patients.rows_table import Column, RowsTable

INVALID_STYLE = 'QLineEdit[invalid="true"], QComboBox[invalid="true"] { border: 2px solid #B3261E; }'

_TEXT_FIELDS = (
    ("first_name", "&First name *"),
    ("middle_name", "Middle name"),
    ("last_name", "&Last name *"),
    ("preferred_name", "Preferred name"),
    ("date_of_birth", "&Date of birth *"),
    ("gender_identity", "Gender identity"),
    ("chart_no", "Chart number"),
)
_CONTACT_FIELDS = (
    ("mobile_phone", "&Mobile"),
    ("home_phone", "Home phone"),
    ("work_phone", "Work phone"),
    ("email", "&Email"),
    ("address_line1", "Address"),
    ("address_line2", ""),
    ("city", "City"),
    ("region", "State / region"),
    ("postal_code", "Postal code"),
    ("country", "Country"),
)
_TAB_OF_FIELD = {"insurance": 1, "guarantor_id": 1, "alerts": 2, "notes": 3}


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


class PatientForm(QWidget):
    """Shows one patient (or a blank new one); `snapshot()` reads what the user typed."""

    edited = Signal()
    choose_guarantor = Signal()

    def __init__(
        self, date_order: str, region: str, can_edit_alerts: bool, parent: QWidget | None = None, *, ctx: Ctx
    ) -> None:
        super().__init__(parent)
        self.setStyleSheet(INVALID_STYLE)
        self.date_order, self.region = date_order, region
        self.fields: dict[str, QWidget] = {}
        self.title = QLabel("New patient")
        self.title.setObjectName("patientTitle")
        self.title.setStyleSheet("font-size: 20px; font-weight: 600;")
        self.subtitle = QLabel()
        self.subtitle.setStyleSheet("color: #5F6B73;")
        self.alert_banner = QLabel()
        self.alert_banner.setObjectName("alertBanner")
        self.alert_banner.setWordWrap(True)
        self.alert_banner.setStyleSheet(
            "background: #FDECEA; color: #8C1D18; border: 1px solid #E6B0AA; border-radius: 4px;"
            " padding: 6px 10px; font-weight: 600;"
        )
        self.alert_banner.hide()

        self.tabs = QTabWidget()
        self.tabs.addTab(self._details_tab(), "Details")
        self.tabs.addTab(self._family_tab(), "Family && insurance")
        self.tabs.addTab(self._alerts_tab(can_edit_alerts), "Medical alerts")
        self.notes = QPlainTextEdit()
        self.notes.setObjectName("notes")
        self.notes.setPlaceholderText("Free-text notes (not clinical notes: those live in the chart)")
        self.notes.textChanged.connect(self.edited)
        self.fields["notes"] = self.notes
        self.tabs.addTab(self.notes, "Notes")
        self.messages = MessagesTab(ctx)
        self.messages.setObjectName("messagesTab")
        self.tabs.addTab(self.messages, "Messages")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.alert_banner)
        layout.addWidget(self.tabs, 1)
        self.guarantor_id: str | None = None
        self.clear()

    # --- building ----------------------------------------------------------------------
    def _line(self, key: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(key)
        edit.textEdited.connect(lambda _t: self.edited.emit())
        self.fields[key] = edit
        return edit

    def _combo(self, key: str, items: list[tuple[str, str]]) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(key)
        for value, label in items:
            combo.addItem(label, value)
        combo.currentIndexChanged.connect(lambda _i: self.edited.emit())
        self.fields[key] = combo
        return combo

    def _check(self, key: str, text: str) -> QCheckBox:
        box = QCheckBox(text)
        box.setObjectName(key)
        box.toggled.connect(lambda _c: self.edited.emit())
        self.fields[key] = box
        return box

    def _details_tab(self) -> QWidget:
        identity = QGroupBox("Identity")
        form = QFormLayout(identity)
        for key, label in _TEXT_FIELDS:
            form.addRow(label, self._line(key))
            if key == "date_of_birth":
                example = "31/12/1980" if self.date_order == "DMY" else "12/31/1980"
                self.fields[key].setPlaceholderText(f"{example} or 1980-12-31")  # type: ignore[attr-defined]
                form.addRow("&Sex", self._combo("sex", [(s.value, _label(s.value)) for s in Sex]))
        self.fields["chart_no"].setPlaceholderText("assigned when saved")  # type: ignore[attr-defined]

        contact = QGroupBox("Contact")
        cform = QFormLayout(contact)
        for key, label in _CONTACT_FIELDS:
            cform.addRow(label, self._line(key))
        channels = [(c.value, "SMS" if c is ContactChannel.SMS else _label(c.value)) for c in ContactChannel]
        cform.addRow("Preferred contact", self._combo("preferred_contact", channels))
        consents = QHBoxLayout()
        consents.addWidget(self._check("consent_sms", "Consents to SMS"))
        consents.addWidget(self._check("consent_email", "Consents to email"))
        cform.addRow("Consent", consents)

        page = QWidget()
        row = QHBoxLayout(page)
        row.addWidget(identity, 1)
        row.addWidget(contact, 1)
        return page

    def _family_tab(self) -> QWidget:
        self.guarantor_label = QLabel("Own guarantor (responsible for their own account)")
        self.guarantor_label.setObjectName("guarantorLabel")
        choose = QPushButton("Choose guarantor…")
        choose.setObjectName("chooseGuarantor")
        choose.clicked.connect(self.choose_guarantor)
        clear = QPushButton("Own guarantor")
        clear.clicked.connect(lambda: self.set_guarantor(None, ""))
        self.fields["guarantor_id"] = self.guarantor_label
        grow = QHBoxLayout()
        grow.addWidget(self.guarantor_label, 1)
        grow.addWidget(choose)
        grow.addWidget(clear)
        self.family = QListWidget()
        self.family.setObjectName("family")
        self.family.setMaximumHeight(110)
        relation = tuple((r.value, _label(r.value)) for r in Relationship)
        self.insurance = RowsTable(
            (
                Column("carrier", "Carrier *"),
                Column("plan_name", "Plan"),
                Column("member_id", "Member ID *"),
                Column("subscriber_name", "Subscriber"),
                Column("relationship", "Patient is subscriber's", choices=relation),
            ),
            "Add plan",
        )
        self.insurance.setObjectName("insurance")
        self.insurance.changed.connect(self.edited)
        self.fields["insurance"] = self.insurance
        page = QWidget()
        layout = QVBoxLayout(page)
        guarantor_box = QGroupBox("Guarantor and family")
        gl = QVBoxLayout(guarantor_box)
        gl.addLayout(grow)
        gl.addWidget(QLabel("Family (same guarantor):"))
        gl.addWidget(self.family)
        insurance_box = QGroupBox("Insurance (first row is primary)")
        il = QVBoxLayout(insurance_box)
        il.addWidget(self.insurance)
        layout.addWidget(guarantor_box)
        layout.addWidget(insurance_box, 1)
        return page

    def _alerts_tab(self, can_edit: bool) -> QWidget:
        kinds = tuple((k.value, _label(k.value)) for k in AlertKind)
        self.alerts = RowsTable(
            (
                Column("kind", "Kind", choices=kinds),
                Column("description", "Description *"),
                Column("severe", "Severe", check=True),
            ),
            "Add alert",
        )
        self.alerts.setObjectName("alerts")
        self.alerts.changed.connect(self._refresh_banner)
        self.alerts.changed.connect(self.edited)
        self.alerts.set_editable(can_edit)
        self.fields["alerts"] = self.alerts
        page = QWidget()
        layout = QVBoxLayout(page)
        if not can_edit:
            note = QLabel("Medical alerts are recorded by a dentist or hygienist; you can read them here.")
            note.setStyleSheet("color: #5F6B73;")
            layout.addWidget(note)
        layout.addWidget(self.alerts)
        return page

    # --- reading and writing ------------------------------------------------------------
    def clear(self) -> None:
        """A blank form for a new patient."""
        for widget in self.fields.values():
            if isinstance(widget, QLineEdit):
                widget.clear()
            elif isinstance(widget, QComboBox):
                widget.setCurrentIndex(0)
            elif isinstance(widget, QCheckBox):
                widget.setChecked(False)
        self._combo_set("sex", Sex.UNKNOWN)
        self._combo_set("preferred_contact", ContactChannel.PHONE)
        self.notes.setPlainText("")
        self.insurance.set_rows([])
        self.alerts.set_rows([])
        self.family.clear()
        self.set_guarantor(None, "")
        self.messages.set_patient(None)
        self.title.setText("New patient")
        self.subtitle.setText("Fields marked * are required.")
        self.clear_errors()
        self.tabs.setCurrentIndex(0)

    def _combo_set(self, key: str, value: str) -> None:
        combo = self.fields[key]
        assert isinstance(combo, QComboBox)
        combo.setCurrentIndex(max(0, combo.findData(str(value))))

    def load(self, record: PatientRecord) -> None:
        d = record.data
        texts = {
            "first_name": d.first_name,
            "middle_name": d.middle_name,
            "last_name": d.last_name,
            "preferred_name": d.preferred_name,
            "date_of_birth": format_date(d.date_of_birth, self.date_order),
            "gender_identity": d.gender_identity,
            "chart_no": record.chart_no,
            "mobile_phone": display_phone(d.mobile_phone, self.region),
            "home_phone": display_phone(d.home_phone, self.region),
            "work_phone": display_phone(d.work_phone, self.region),
            "email": d.email,
            "address_line1": d.address_line1,
            "address_line2": d.address_line2,
            "city": d.city,
            "region": d.region,
            "postal_code": d.postal_code,
            "country": d.country,
        }
        for key, value in texts.items():
            self.fields[key].setText(value)  # type: ignore[attr-defined]
        self._combo_set("sex", d.sex)
        self._combo_set("preferred_contact", d.preferred_contact)
        self.fields["consent_sms"].setChecked(d.consent_sms)  # type: ignore[attr-defined]
        self.fields["consent_email"].setChecked(d.consent_email)  # type: ignore[attr-defined]
        self.notes.setPlainText(d.notes)
        self.insurance.set_rows(
            [
                {
                    "carrier": i.carrier,
                    "plan_name": i.plan_name,
                    "member_id": i.member_id,
                    "subscriber_name": i.subscriber_name,
                    "relationship": str(i.relationship),
                }
                for i in d.insurance
            ]
        )
        self.alerts.set_rows(
            [{"kind": str(a.kind), "description": a.description, "severe": a.severe} for a in d.alerts]
        )
        self.set_guarantor(d.guarantor_id, record.guarantor_name)
        self.family.clear()
        for member in record.family:
            role = "guarantor" if member.is_guarantor else "family"
            self.family.addItem(f"{member.name} — born {format_date(member.date_of_birth, self.date_order)} ({role})")
        preferred = f" “{d.preferred_name}”" if d.preferred_name else ""
        self.title.setText(f"{d.first_name}{preferred} {d.last_name}")
        archived = "  ·  ARCHIVED" if record.archived_at else ""
        age = age_on(d.date_of_birth, date.today())
        self.subtitle.setText(
            f"Chart {record.chart_no}  ·  {age} years  ·  "
            f"born {format_date(d.date_of_birth, self.date_order)}{archived}"
        )
        self.clear_errors()
        self._refresh_banner()

    def set_guarantor(self, patient_id: str | None, name: str) -> None:
        self.guarantor_id = patient_id
        self.guarantor_label.setText(
            f"Guarantor: {name}" if patient_id else "Own guarantor (responsible for their own account)"
        )
        self.edited.emit()

    def snapshot(self) -> PatientInput:
        """What the form holds now, as typed."""
        text = {key: w.text() for key, w in self.fields.items() if isinstance(w, QLineEdit)}
        combo = {key: w.currentData() for key, w in self.fields.items() if isinstance(w, QComboBox)}
        return PatientInput(
            **text,
            **combo,
            consent_sms=self.fields["consent_sms"].isChecked(),  # type: ignore[attr-defined]
            consent_email=self.fields["consent_email"].isChecked(),  # type: ignore[attr-defined]
            guarantor_id=self.guarantor_id,
            notes=self.notes.toPlainText(),
            insurance=tuple(
                InsuranceInput(
                    carrier=str(r["carrier"]),
                    member_id=str(r["member_id"]),
                    plan_name=str(r["plan_name"]),
                    subscriber_name=str(r["subscriber_name"]),
                    relationship=str(r["relationship"]),
                )
                for r in self.insurance.rows()
            ),
            alerts=tuple(
                AlertInput(kind=str(r["kind"]), description=str(r["description"]), severe=bool(r["severe"]))
                for r in self.alerts.rows()
            ),
        )

    def _refresh_banner(self) -> None:
        alerts = [r for r in self.alerts.rows() if str(r["description"]).strip()]
        if not alerts:
            self.alert_banner.hide()
            return
        parts = [f"{str(r['kind']).upper()}: {r['description']}" + (" (SEVERE)" if r["severe"] else "") for r in alerts]
        self.alert_banner.setText("⚠  Medical alerts — " + "   ·   ".join(parts))
        self.alert_banner.show()

    # --- messages ------------------------------------------------------------------------
    def show_errors(self, messages: dict[str, str]) -> None:
        """Mark each rejected field and show its message; jump to the first one."""
        self.clear_errors()
        first: QWidget | None = None
        for key, message in messages.items():
            widget = self.fields.get(key)
            if widget is None:
                continue
            widget.setProperty("invalid", True)
            widget.setToolTip(message)
            widget.style().unpolish(widget)
            widget.style().polish(widget)
            first = first or widget
            if first is widget:
                self.tabs.setCurrentIndex(_TAB_OF_FIELD.get(key, 0))
        if first is not None:
            first.setFocus(Qt.FocusReason.OtherFocusReason)

    def clear_errors(self) -> None:
        for widget in self.fields.values():
            if widget.property("invalid"):
                widget.setProperty("invalid", False)
                widget.setToolTip("")
                widget.style().unpolish(widget)
                widget.style().polish(widget)
