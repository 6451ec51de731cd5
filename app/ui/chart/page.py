"""The Chart screen: one patient's header with medical alerts, and the clinical tabs."""

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.permissions import Scope
from app.services import charting
from app.services.charting import ChartHeader, ChartView
from app.services.context import Ctx
from app.ui.chart.notes_tab import NotesTab
from app.ui.chart.perio_tab import PerioTab
from app.ui.chart.plans_tab import PlansTab
from app.ui.chart.tooth_chart_tab import ToothChartTab
from app.ui.errors import show_error
from app.ui.icons import icon
from app.ui.ops import bus, run_op

ALERT_STYLE = (
    "background: #fdecea; color: #8a1c12; border: 1px solid #e0a39b; border-radius: 4px;"
    "padding: 6px 10px; font-weight: 600;"
)


class ChartPage(QWidget):
    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert ctx.actor is not None
        self.ctx = ctx
        scopes = ctx.actor.scopes
        self.can_read_chart = Scope.CHART_READ in scopes
        self.patient_id: str | None = None

        self.title = QLabel("Chart")
        self.title.setObjectName("chartPatient")
        self.title.setStyleSheet("font-size: 20px; font-weight: 600;")
        self.details = QLabel("Choose a patient to see their chart.")
        self.details.setObjectName("chartPatientDetails")
        self.choose_button = QPushButton(icon("patients"), "Choose patient…")
        self.choose_button.clicked.connect(self.choose_patient)
        self.alerts = QLabel()
        self.alerts.setObjectName("chartAlerts")
        self.alerts.setWordWrap(True)
        self.alerts.setStyleSheet(ALERT_STYLE)
        self.alerts.hide()

        self.tabs = QTabWidget()
        self.tooth_tab: ToothChartTab | None = None
        self.perio_tab: PerioTab | None = None
        self.notes_tab: NotesTab | None = None
        if self.can_read_chart:
            self.tooth_tab = ToothChartTab(ctx)
            self.tabs.addTab(self.tooth_tab, icon("chart"), "Tooth chart")
        self.plans_tab = PlansTab(ctx)
        self.tabs.addTab(self.plans_tab, "Treatment plans")
        if self.can_read_chart:
            self.perio_tab = PerioTab(ctx)
            self.notes_tab = NotesTab(ctx)
            self.tabs.addTab(self.perio_tab, "Perio")
            self.tabs.addTab(self.notes_tab, "Notes")

        head = QHBoxLayout()
        names = QVBoxLayout()
        names.addWidget(self.title)
        names.addWidget(self.details)
        head.addLayout(names, 1)
        head.addWidget(self.choose_button)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.alerts)
        layout.addWidget(self.tabs, 1)
        self.tabs.setEnabled(False)
        bus.changes_applied.connect(self._on_changes)

    def _tabs(self) -> list[QWidget]:
        return [t for t in (self.tooth_tab, self.plans_tab, self.perio_tab, self.notes_tab) if t is not None]

    def choose_patient(self) -> None:
        from app.ui.patients.page import PatientPickerDialog

        picker = PatientPickerDialog(self.ctx, self)
        picker.patient_chosen.connect(self.open_patient)
        picker.exec()

    def open_patient(self, patient_id: str) -> None:
        if patient_id != self.patient_id and self.notes_tab and not self.notes_tab.confirm_discard():
            return
        self.patient_id = patient_id
        if self.can_read_chart:
            run_op(lambda: charting.open_chart(self.ctx, patient_id), self._chart_opened, self._failed)
        else:
            run_op(lambda: charting.chart_header(self.ctx, patient_id), self._show_header, self._failed)
        self.plans_tab.set_patient(patient_id)
        if self.perio_tab and self.notes_tab:
            self.perio_tab.set_patient(patient_id)
            self.notes_tab.set_patient(patient_id)

    def _failed(self, error: Exception) -> None:
        show_error(self, error)

    def _chart_opened(self, view: ChartView) -> None:
        if view.header.patient_id != self.patient_id:
            return  # another patient was chosen meanwhile
        self._show_header(view.header)
        assert self.tooth_tab is not None
        self.tooth_tab.set_view(view)

    def _show_header(self, header: ChartHeader) -> None:
        self.title.setText(header.name)
        self.details.setText(f"Chart {header.chart_no} · born {header.date_of_birth:%d %b %Y} · {header.age} years")
        if header.alerts:
            lines = [f"{'⚠ ' if a.severe else ''}{a.kind.capitalize()}: {a.description}" for a in header.alerts]
            self.alerts.setText("Medical alerts — " + " · ".join(lines))
            self.alerts.show()
        else:
            self.alerts.hide()
        self.tabs.setEnabled(True)

    def _on_changes(self, areas: frozenset[str], origin: object) -> None:
        # plans or another window changed this chart: the tooth chart re-reads it (its own
        # changes come back with the new chart; notes and perio do not change what it draws)
        own = (self.tooth_tab, self.perio_tab, self.notes_tab)
        if "chart" in areas and self.patient_id and self.tooth_tab and origin not in own:
            pid = self.patient_id
            run_op(lambda: charting.open_chart(self.ctx, pid), self._chart_opened, self._failed)
        if "patients" in areas and self.patient_id:
            pid = self.patient_id
            run_op(lambda: charting.chart_header(self.ctx, pid), self._show_header, self._failed)
