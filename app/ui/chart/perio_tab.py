"""The Perio tab: a patient's exams, keyboard entry with autosave, comparison, staging help."""

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.domain import perio as perio_rules
from app.domain import teeth
from app.domain.perio import PerioExam, PerioSummary, StagingSuggestion
from app.domain.permissions import Scope
from app.services import perio
from app.services.context import Ctx
from app.services.perio import Comparison, ExamRecord, ExamSummaryRow
from app.ui.chart.perio_chart import EntryMode, PerioChart
from app.ui.errors import show_error
from app.ui.ops import run_op

SAVE_DELAY_MS = 1200  # after the last keystroke; a save takes a few milliseconds
MODES = (
    (EntryMode.DEPTH, "Probing depth", "Digits 0–9; + then a digit for 10–19 mm; B/S/P bleeding, suppuration, plaque"),
    (EntryMode.MARGIN, "Gingival margin", "Digits; − then a digit when the margin is above the CEJ"),
    (EntryMode.MOBILITY, "Mobility", "0–3 per tooth"),
    (EntryMode.FURCATION, "Furcation", "Grade 1–3 (0 clears) at each furcation"),
)


def summary_line(s: PerioSummary) -> str:
    def pct(v: object) -> str:
        return "—" if v is None else f"{v} %"

    return (
        f"{s.teeth_present} teeth · {s.sites_probed} sites probed · ≥4 mm: {s.sites_4_plus} · "
        f"≥5 mm: {s.sites_5_plus} · bleeding {pct(s.bleeding_pct)} · plaque {pct(s.plaque_pct)}"
    )


class PerioTab(QWidget):
    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert ctx.actor is not None
        self.ctx = ctx
        self.can_write = Scope.CHART_WRITE in ctx.actor.scopes
        self.patient_id: str | None = None
        self.record: ExamRecord | None = None
        self.version = 0
        self._rows: list[ExamSummaryRow] = []
        self._saving = False
        self._dirty = False
        self._stage_after_save = False

        self.exams = QListWidget()
        self.exams.setObjectName("perioExams")
        self.exams.setMaximumWidth(200)  # the chart needs about 1,000 px of the width
        self.exams.currentItemChanged.connect(lambda *_: self._exam_chosen())
        self.new_button = QPushButton("New exam")
        self.new_button.setObjectName("newPerioExam")
        self.new_button.clicked.connect(self.start_exam)
        self.complete_button = QPushButton("Complete exam")
        self.complete_button.setToolTip("Lock the exam: it can no longer be changed")
        self.complete_button.clicked.connect(self.complete_exam)
        self.discard_button = QPushButton("Discard")
        self.discard_button.clicked.connect(self.discard_exam)
        left = QVBoxLayout()
        left.addWidget(QLabel("Exams"))
        left.addWidget(self.exams, 1)
        left.addWidget(self.new_button)
        left.addWidget(self.complete_button)
        left.addWidget(self.discard_button)

        self.chart = PerioChart()
        self.chart.setObjectName("perioChart")
        self.chart.set_numbering(teeth.Numbering(ctx.runtime.info.tooth_numbering))
        self.chart.set_path(perio_rules.path_segments(ctx.runtime.info.probing_path))
        self.chart.exam_edited.connect(self._edited)
        self.chart.mode_changed.connect(self._mode_changed)
        scroll = QScrollArea()
        scroll.setWidget(self.chart)
        scroll.setWidgetResizable(True)

        self.mode_buttons = QButtonGroup(self)
        modes = QHBoxLayout()
        for n, (mode, label, tip) in enumerate(MODES, start=1):
            b = QPushButton(f"{label} (Ctrl+{n})")
            b.setCheckable(True)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, m=mode: self._set_mode(m))
            self.mode_buttons.addButton(b, n)
            modes.addWidget(b)
        self.mode_buttons.button(1).setChecked(True)
        modes.addStretch()
        self.save_state = QLabel()
        self.save_state.setObjectName("perioSaveState")
        modes.addWidget(self.save_state)

        self.compare_with = QComboBox()
        self.compare_with.setObjectName("perioCompareWith")
        self.compare_with.currentIndexChanged.connect(lambda _i: self._compare())
        self.stage_button = QPushButton("Suggest stage and grade")
        self.stage_button.clicked.connect(self.suggest_staging)
        self.findings = QLabel()
        self.findings.setObjectName("perioFindings")
        self.findings.setWordWrap(True)
        self.findings.setTextFormat(Qt.TextFormat.RichText)
        compare = QHBoxLayout()
        compare.addWidget(QLabel("Compare with:"))
        compare.addWidget(self.compare_with)
        compare.addWidget(self.stage_button)
        compare.addStretch()

        right = QVBoxLayout()
        right.addLayout(modes)
        right.addWidget(scroll, 1)
        right.addLayout(compare)
        right.addWidget(self.findings)
        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(right, 1)

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_now)
        self._update_buttons()

    # --- loading ---------------------------------------------------------------------------
    def set_patient(self, patient_id: str | None) -> None:
        self.save_now()
        self.patient_id = patient_id
        self.record = None
        self.findings.clear()
        self.chart.set_exam(PerioExam.blank(), read_only=True)
        self.reload()

    def reload(self, select_id: str | None = None) -> None:
        if not self.patient_id:
            self._show_rows([], None)
            return
        pid = self.patient_id
        run_op(lambda: perio.list_exams(self.ctx, pid), lambda rows: self._show_rows(rows, select_id), self._failed)

    def _show_rows(self, rows: list[ExamSummaryRow], select_id: str | None) -> None:
        self._rows = rows
        self.exams.blockSignals(True)
        self.exams.clear()
        for r in rows:
            state = "✔ completed" if r.status == "completed" else "● in progress"
            item = QListWidgetItem(f"{r.exam_date:%d %b %Y} — {state}\n{r.provider_name or 'no provider'}")
            item.setData(Qt.ItemDataRole.UserRole, r.id)
            self.exams.addItem(item)
        self.exams.blockSignals(False)
        wanted = select_id or (self.record.id if self.record else None) or (rows[0].id if rows else None)
        for i, r in enumerate(rows):
            if r.id == wanted:
                self.exams.setCurrentRow(i)
        self._update_buttons()

    def _exam_chosen(self) -> None:
        item = self.exams.currentItem()
        if item is None:
            return
        exam_id = item.data(Qt.ItemDataRole.UserRole)
        if self.record and self.record.id == exam_id:
            return
        self.save_now()
        run_op(lambda: perio.get_exam(self.ctx, exam_id), self._show_record, self._failed)

    def _show_record(self, record: ExamRecord) -> None:
        self.record, self.version = record, record.version
        self.chart.set_exam(record.exam, read_only=record.completed or not self.can_write)
        self.chart.setFocus(Qt.FocusReason.OtherFocusReason)
        self.save_state.setText(
            f"Completed {record.completed_at.astimezone():%d %b %Y %H:%M} by {record.completed_by_name} — locked"
            if record.completed and record.completed_at
            else "All changes saved"
        )
        earlier = [r for r in self._rows if r.id != record.id and r.exam_date <= record.exam_date]
        self.compare_with.blockSignals(True)
        self.compare_with.clear()
        self.compare_with.addItem("(no comparison)", None)
        for r in earlier:
            self.compare_with.addItem(f"{r.exam_date:%d %b %Y}", r.id)
        self.compare_with.blockSignals(False)
        if len(earlier) > 0:
            self.compare_with.setCurrentIndex(1)  # the latest earlier exam, as clinicians compare
        else:
            self.chart.set_comparison(set(), None)
            self.findings.setText(summary_line(perio_rules.summarize(record.exam)))
        self._update_buttons()

    def _failed(self, error: Exception) -> None:
        show_error(self, error)

    def _update_buttons(self) -> None:
        editable = self.record is not None and not self.record.completed and self.can_write
        self.new_button.setEnabled(self.can_write and self.patient_id is not None)
        self.complete_button.setEnabled(editable)
        self.discard_button.setEnabled(editable)
        self.stage_button.setEnabled(self.record is not None)
        for b in self.mode_buttons.buttons():
            b.setEnabled(editable)

    # --- entry and saving ---------------------------------------------------------------------
    def _set_mode(self, mode: EntryMode) -> None:
        self.chart.set_mode(mode)
        self.chart.setFocus(Qt.FocusReason.OtherFocusReason)

    def _mode_changed(self, mode: str) -> None:
        for n, (m, _label, _tip) in enumerate(MODES, start=1):
            if m == mode:
                self.mode_buttons.button(n).setChecked(True)

    def _edited(self) -> None:
        self._dirty = True
        self.save_state.setText("Unsaved changes…")
        self._save_timer.start()

    def save_now(self) -> None:
        """Save the edits (called by the timer, on leaving the exam and before completing)."""
        self._save_timer.stop()
        if not (self._dirty and self.record) or self._saving:
            return
        exam_id, version = self.record.id, self.version
        snapshot = PerioExam.from_json(self.chart.exam().to_json())  # the widget keeps editing its own
        self._saving, self._dirty = True, False
        self.save_state.setText("Saving…")
        run_op(
            lambda: perio.save_exam(self.ctx, exam_id, version, snapshot),
            self._saved,
            self._save_failed,
            changes=frozenset({"perio"}),
            origin=self,
        )

    def flush(self) -> None:
        """Save pending readings now, on this thread (a few milliseconds): the window is closing."""
        self._save_timer.stop()
        if not (self._dirty and self.record) or self._saving:
            return
        try:
            self.version = perio.save_exam(self.ctx, self.record.id, self.version, self.chart.exam())
            self._dirty = False
        except Exception as e:  # shown, and the exam stays open for another try
            self._save_failed(e)

    def _saved(self, version: int) -> None:
        self._saving = False
        self.version = version
        if self._dirty:
            self.save_now()
            return
        self.save_state.setText("All changes saved")
        if self.record:
            self.findings.setText(summary_line(perio_rules.summarize(self.chart.exam())))
        if self._stage_after_save:
            self._stage_after_save = False
            self.suggest_staging()

    def _save_failed(self, error: Exception) -> None:
        self._saving, self._dirty, self._stage_after_save = False, True, False
        self.save_state.setText("Not saved — see the message")
        show_error(self, error)

    def start_exam(self) -> None:
        if not self.patient_id:
            return
        pid = self.patient_id
        run_op(
            lambda: perio.start_exam(self.ctx, pid),
            self._started,
            self._failed,
            changes=frozenset({"perio"}),
            origin=self,
        )

    def _started(self, record: ExamRecord) -> None:
        self.record = None
        self.reload(select_id=record.id)

    def complete_exam(self) -> None:
        if not self.record:
            return
        exam_id = self.record.id
        snapshot = PerioExam.from_json(self.chart.exam().to_json())
        version, dirty = self.version, self._dirty
        self._save_timer.stop()
        self._dirty = False

        def call() -> ExamRecord:
            v = perio.save_exam(self.ctx, exam_id, version, snapshot) if dirty else version
            return perio.complete_exam(self.ctx, exam_id, v)

        run_op(call, self._completed, self._save_failed, changes=frozenset({"perio"}), origin=self)

    def _completed(self, record: ExamRecord) -> None:
        self.record = None
        self.reload(select_id=record.id)

    def discard_exam(self) -> None:
        if not self.record:
            return
        exam_id, version = self.record.id, self.version
        self._save_timer.stop()
        self._dirty = False
        self.record = None
        run_op(
            lambda: perio.discard_exam(self.ctx, exam_id, version),
            lambda _r: self.set_patient(self.patient_id),
            self._failed,
            changes=frozenset({"perio"}),
            origin=self,
        )

    # --- comparison and staging ------------------------------------------------------------------
    def _compare(self) -> None:
        earlier_id = self.compare_with.currentData()
        if not (self.record and earlier_id):
            self.chart.set_comparison(set(), None)
            if self.record:
                self.findings.setText(summary_line(perio_rules.summarize(self.chart.exam())))
            return
        exam_id = self.record.id
        run_op(lambda: perio.comparison(self.ctx, exam_id, earlier_id), self._show_comparison, self._failed)

    def _show_comparison(self, c: Comparison) -> None:
        self.chart.set_comparison(set(c.worse), c.before.exam)
        better = sum(1 for ch in c.changes if ch.better)
        self.findings.setText(
            f"{summary_line(c.after_summary)}<br>"
            f"Compared with {c.before.exam_date:%d %b %Y}: "
            f"<b style='color:#c2410c'>{len(c.worse)} site{'s' if len(c.worse) != 1 else ''} worse by 2 mm or more</b> "
            f"(marked ▲), {better} better by 2 mm or more; bleeding {c.before_summary.bleeding_pct or 0} % → "
            f"{c.after_summary.bleeding_pct or 0} %."
        )

    def suggest_staging(self) -> None:
        if not self.record:
            return
        if self._dirty or self._saving:
            # judged on what is on screen: the suggestion is asked for once the save lands
            self._stage_after_save = True
            self.save_now()
            return
        exam_id = self.record.id
        run_op(lambda: perio.staging(self.ctx, exam_id), self._show_staging, self._failed)

    def _show_staging(self, s: StagingSuggestion) -> None:
        if s.periodontitis:
            head = f"Suggested: stage {s.stage}, {s.extent}, grade {s.grade}"
        else:
            head = "Suggested: no periodontitis"
        reasons = "".join(f"<li>{r}</li>" for r in s.reasons)
        self.findings.setText(f"<b>{head}</b> — <i>{s.label}</i><ul>{reasons}</ul>")
