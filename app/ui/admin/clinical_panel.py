"""Clinical set-up: tooth numbering, the perio probing path and the procedure catalogue."""

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain import perio, teeth
from app.services import catalogue, clinic_settings
from app.services.catalogue import ImportReport
from app.services.context import Ctx
from app.ui.errors import show_error
from app.ui.ops import run_op


class ClinicalPanel(QWidget):
    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        info = ctx.runtime.info
        self.numbering = QComboBox()
        self.numbering.setObjectName("toothNumbering")
        for n in teeth.Numbering:
            self.numbering.addItem(f"{n.label} — e.g. upper right first molar is {teeth.to_label('16', n)}", n.value)
        self.numbering.setCurrentIndex(self.numbering.findData(info.tooth_numbering))
        self.path = QComboBox()
        self.path.setObjectName("probingPath")
        for key, (label, _segments) in perio.PROBING_PATHS.items():
            self.path.addItem(label, key)
        self.path.setCurrentIndex(max(0, self.path.findData(info.probing_path)))
        save = QPushButton("Save chart preferences")
        save.clicked.connect(self.save)
        self.message = QLabel()
        form = QFormLayout()
        form.addRow("Tooth numbering", self.numbering)
        form.addRow("Perio probing path", self.path)

        import_button = QPushButton("Import procedure list (CSV)…")
        import_button.setToolTip(
            "Your own licensed code list: columns code, description, category, default_fee "
            "(optional: area, surfaces_required, condition)"
        )
        import_button.clicked.connect(self.choose_csv)
        self.report = QPlainTextEdit()
        self.report.setObjectName("importReport")
        self.report.setReadOnly(True)
        self.report.setPlaceholderText("The result of an import, with any lines that could not be used, shows here.")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(save)
        layout.addWidget(self.message)
        layout.addSpacing(16)
        layout.addWidget(QLabel("<b>Procedure catalogue</b>"))
        layout.addWidget(import_button)
        layout.addWidget(self.report, 1)

    def save(self) -> None:
        numbering, path = self.numbering.currentData(), self.path.currentData()
        run_op(
            lambda: clinic_settings.set_chart_preferences(self.ctx, tooth_numbering=numbering, probing_path=path),
            lambda _r: self.message.setText("Saved. Charts opened from now on use these preferences."),
            lambda e: show_error(self, e),
            changes=frozenset({"settings", "chart"}),
            origin=self,
        )

    def choose_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import procedure list", "", "CSV files (*.csv);;All files (*)")
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            self.report.setPlainText(f"Could not read {path.name}: it must be a UTF-8 text (CSV) file. ({e})")
            return
        run_op(
            lambda: catalogue.import_csv(self.ctx, text),
            self._imported,
            lambda e: show_error(self, e),
            changes=frozenset({"catalogue"}),
            origin=self,
        )

    def _imported(self, r: ImportReport) -> None:
        lines = [f"Added {r.added}, updated {r.updated}, unchanged {r.unchanged}."]
        if r.bad_lines:
            lines.append(f"{len(r.bad_lines)} line(s) could not be used and were skipped:")
            lines += [f"  {b.message}" for b in r.bad_lines]
        self.report.setPlainText("\n".join(lines))
