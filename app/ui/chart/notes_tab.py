"""The clinical chart's Notes tab: a patient's visit notes, newest visit first, and the one chosen.

A note is its author's draft (edited, saved, discarded) until they sign it with their password;
from then on nobody can change it and anything learnt later is added as a signed addendum. The
tab only collects input and shows results: every rule is the service's (app.services.clinical_notes)
and every call to it runs off the GUI thread through run_op.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QDateEdit,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.domain.errors import UserError
from app.domain.permissions import Scope
from app.domain.teeth import Numbering
from app.services import charting, clinical_notes
from app.services.charting import EntryView
from app.services.clinical_notes import NoteView, TemplateRow
from app.services.context import Ctx
from app.ui.errors import show_error
from app.ui.icons import icon
from app.ui.ops import bus, run_op
from app.ui.signin.dialogs import _CheckedDialog, _password_field

CHANGES = frozenset({"chart"})
RECENT_DAYS = 30  # chart entries a draft can link: those of the last month
BLANK_TITLE = "Clinical note"
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

INK, FAINT = "#263238", "#5F6B73"
OK_INK, ERROR_INK = "#1B5E20", "#B3261E"
DRAFT_INK, DRAFT_FILL = "#7A4F01", "#FFF4D6"
SIGNED_BANNER = (
    "QLabel { background: #E7F4E8; color: #1B5E20; border: 1px solid #81C784; border-left: 5px solid #2E7D32;"
    " border-radius: 4px; padding: 8px 10px; }"
)
DRAFT_BANNER = (
    "QLabel { background: #FFF4D6; color: #5D3B00; border: 1px solid #F2C76B; border-left: 5px solid #E0A100;"
    " border-radius: 4px; padding: 8px 10px; }"
)
EDITABLE_TEXT = "QPlainTextEdit { background: #FFFFFF; color: #263238; }"
READ_ONLY_TEXT = "QPlainTextEdit { background: #F1F3F4; color: #263238; }"
TITLE_EDITABLE = "QLineEdit { font-size: 18px; font-weight: 600; padding: 2px 4px; }"
TITLE_READ_ONLY = (
    "QLineEdit { font-size: 18px; font-weight: 600; padding: 2px 0; border: none; background: transparent; }"
)


@dataclass(frozen=True)
class _Snapshot:
    """What a draft's editor holds, compared with what was loaded to know if anything is unsaved."""

    title: str
    body: str
    visit_date: date
    procedure_ids: tuple[str, ...]


def _of(note: NoteView) -> _Snapshot:
    return _Snapshot(note.title, note.body, note.visit_date, tuple(sorted(p.chart_entry_id for p in note.procedures)))


def _newest_first(notes: list[NoteView]) -> list[NoteView]:
    return sorted(notes, key=lambda n: (n.visit_date, n.created_at), reverse=True)


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


class SignNoteDialog(_CheckedDialog):
    """Asks the author for their password to sign; the tab signs (off the GUI thread) once it closes."""

    def __init__(self, title: str, author: str, unsaved: bool = False, parent: QWidget | None = None) -> None:
        super().__init__("Sign note", parent)
        saved_first = "Your unsaved changes are saved first.<br>" if unsaved else ""
        self.header.setText(
            f"<b>Sign “{escape(title)}” as {escape(author)}?</b><br>{saved_first}"
            "Once signed, the note can no longer be changed; anything learnt later is added as an addendum."
        )
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.password = _password_field()
        self.password.setObjectName("signPassword")
        self.form.addRow("Your &password", self.password)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign note")

        def check() -> None:
            if not self.password.text():
                raise UserError("Type your password to sign the note.")

        self.check = check
        self.setMinimumWidth(440)


class AddendumDialog(_CheckedDialog):
    """The addendum's text and the clinician's password; the tab adds it once the dialog closes."""

    def __init__(self, title: str, author: str, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__("Add addendum", parent)
        self.header.setText(
            f"<b>Add an addendum to “{escape(title)}”</b><br>"
            f"It is dated now and signed as {escape(author)}; like the note, it cannot be changed afterwards."
        )
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.text = QPlainTextEdit(text)
        self.text.setObjectName("addendumText")
        self.text.setMinimumHeight(140)
        self.text.setTabChangesFocus(True)
        self.password = _password_field()
        self.password.setObjectName("addendumPassword")
        self.form.addRow("&Addendum", self.text)
        self.form.addRow("Your &password", self.password)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add addendum")

        def check() -> None:
            if not self.text.toPlainText().strip():
                raise UserError("Write the addendum first.")
            if not self.password.text():
                raise UserError("Type your password to sign the addendum.")

        self.check = check
        self.setMinimumWidth(520)


class NotesTab(QWidget):
    """A patient's clinical notes: the list on the left, the chosen note (or draft) on the right."""

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert ctx.actor is not None
        self.ctx = ctx
        self.me = ctx.actor.user_id
        self.can_write = Scope.CHART_WRITE in ctx.actor.scopes
        info = ctx.runtime.info
        self.tz, self.date_order = ZoneInfo(info.time_zone), info.date_order
        self.patient_id: str | None = None
        self._notes: list[NoteView] = []
        self._entries: tuple[EntryView, ...] = ()
        self._numbering = charting.numbering(ctx)
        self._templates: list[TemplateRow] | None = None
        self._current: NoteView | None = None  # the note on the right
        self._loaded: _Snapshot | None = None  # its editor contents as last loaded or saved
        self._addendum_draft = ""  # an addendum the service refused, offered again next time
        self._generation = 0  # which reload's answer is still wanted
        self._busy = 0  # changes in flight
        self._stale = False

        # --- left: new note, then the list ---------------------------------------------------
        self.template_combo = QComboBox()
        self.template_combo.setObjectName("noteTemplate")
        self.template_combo.setToolTip("The template a new note starts from; its name becomes the title")
        self.template_combo.setMinimumContentsLength(14)
        self.new_button = QPushButton(icon("add"), "New note")
        self.new_button.setObjectName("newNote")
        self.new_button.setToolTip("Start a draft note for today's visit from the chosen template")
        self.new_button.clicked.connect(self.new_note)
        new_row = QHBoxLayout()
        new_row.addWidget(self.template_combo, 1)
        new_row.addWidget(self.new_button)
        heading = QLabel("Clinical notes")
        heading.setStyleSheet("font-size: 16px; font-weight: 600;")
        self.list = QListWidget()
        self.list.setObjectName("notesList")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setStyleSheet(
            "QListWidget::item { padding: 5px 4px; border-bottom: 1px solid #E3E8EB; }"
            "QListWidget::item:selected { background: #1565C0; color: #FFFFFF; }"
        )
        self.list.currentRowChanged.connect(self._row_chosen)
        self.list_status = QLabel()
        self.list_status.setObjectName("notesListStatus")
        self.list_status.setWordWrap(True)
        self.list_status.setStyleSheet(f"color: {FAINT};")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 6, 0)
        ll.addWidget(heading)
        if self.can_write:
            ll.addLayout(new_row)
        else:
            self.template_combo.hide()
            self.new_button.hide()
        ll.addWidget(self.list, 1)
        ll.addWidget(self.list_status)

        # --- right: the chosen note --------------------------------------------------------
        self.title = QLineEdit()
        self.title.setObjectName("noteTitle")
        self.title.setPlaceholderText("Title")
        self.title.setMaxLength(clinical_notes.TITLE_MAX)
        self.visit_date = QDateEdit()
        self.visit_date.setObjectName("noteVisitDate")
        self.visit_date.setCalendarPopup(True)
        self.visit_date.setDisplayFormat("MMM d, yyyy" if self.date_order == "MDY" else "d MMM yyyy")
        self.visit_date.setToolTip("The day of the visit this note records")
        visit_label = QLabel("Visit")
        visit_label.setStyleSheet(f"color: {FAINT};")
        title_row = QHBoxLayout()
        title_row.addWidget(self.title, 1)
        title_row.addSpacing(12)
        title_row.addWidget(visit_label)
        title_row.addWidget(self.visit_date)
        self.meta = QLabel()
        self.meta.setObjectName("noteMeta")
        self.meta.setStyleSheet(f"color: {FAINT};")
        self.meta.setWordWrap(True)
        self.banner = QLabel()
        self.banner.setObjectName("noteBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)

        self.body = QPlainTextEdit()
        self.body.setObjectName("noteBody")
        self.body.setTabChangesFocus(True)
        self.body.setPlaceholderText("Write the note…")
        body_font = QFont(self.body.font())
        body_font.setPointSizeF(body_font.pointSizeF() + 1)
        self.body.setFont(body_font)
        self.procedures_label = QLabel()
        self.procedures_label.setStyleSheet("font-weight: 600;")
        self.procedures = QListWidget()
        self.procedures.setObjectName("noteProcedures")
        self.procedures.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.procedures.setStyleSheet("QListWidget::item { padding: 2px 2px; }")
        self.procedures.itemChanged.connect(lambda _item: self._update_buttons())
        procedures_box = QWidget()
        pl = QVBoxLayout(procedures_box)
        pl.setContentsMargins(0, 4, 0, 0)
        pl.addWidget(self.procedures_label)
        pl.addWidget(self.procedures)
        self.addenda_label = QLabel("Addenda")
        self.addenda_label.setStyleSheet("font-weight: 600;")
        self.addenda = QTextBrowser()
        self.addenda.setObjectName("noteAddenda")
        self.addenda.setOpenLinks(False)
        self.addenda.setStyleSheet("QTextBrowser { background: #F1F3F4; }")
        self.addenda_box = QWidget()
        al = QVBoxLayout(self.addenda_box)
        al.setContentsMargins(0, 4, 0, 0)
        al.addWidget(self.addenda_label)
        al.addWidget(self.addenda)
        # the addenda and procedures take the room they need (up to a cap), the body the rest
        self.addenda.document().documentLayout().documentSizeChanged.connect(lambda _s: self._fit_addenda())

        self.message = QLabel()
        self.message.setObjectName("noteMessage")
        self.message.setWordWrap(True)
        self.save_button = QPushButton(icon("save"), "Save draft")
        self.save_button.setObjectName("saveNote")
        self.save_button.setToolTip("Save the draft (Ctrl+S); it stays editable until you sign it")
        self.save_button.clicked.connect(self.save_draft)
        self.sign_button = QPushButton(icon("verify"), "Sign…")
        self.sign_button.setObjectName("signNote")
        self.sign_button.setToolTip("Sign the note with your password; after that it can no longer be changed")
        self.sign_button.clicked.connect(self.prompt_sign)
        self.addendum_button = QPushButton(icon("add"), "Add addendum…")
        self.addendum_button.setObjectName("addAddendum")
        self.addendum_button.setToolTip("Extend this signed note with a dated, signed addendum")
        self.addendum_button.clicked.connect(self.prompt_addendum)
        self.discard_button = QPushButton("Discard draft")
        self.discard_button.setObjectName("discardNote")
        self.discard_button.setToolTip("Throw this draft away (it was never signed)")
        self.discard_button.clicked.connect(self.discard_draft)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.discard_button)
        buttons.addWidget(self.addendum_button)
        buttons.addWidget(self.sign_button)
        buttons.addWidget(self.save_button)
        if not self.can_write:
            for b in (self.save_button, self.sign_button, self.addendum_button, self.discard_button):
                b.hide()

        note_page = QWidget()
        nl = QVBoxLayout(note_page)
        nl.setContentsMargins(6, 0, 0, 0)
        nl.addLayout(title_row)
        nl.addWidget(self.meta)
        nl.addWidget(self.banner)
        nl.addWidget(self.body, 1)
        nl.addWidget(self.addenda_box)
        nl.addWidget(procedures_box)
        nl.addLayout(buttons)
        self.empty = QLabel()
        self.empty.setObjectName("notesEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(f"color: {FAINT}; font-size: 14px;")
        self.right = QStackedWidget()
        self.right.addWidget(self.empty)
        self.right.addWidget(note_page)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 820])
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)

        save = QShortcut(QKeySequence(QKeySequence.StandardKey.Save), self, activated=self.save_draft)
        save.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)  # the chart page may have its own
        self.title.textEdited.connect(lambda _t: self._update_buttons())
        self.body.textChanged.connect(self._update_buttons)
        self.visit_date.dateChanged.connect(lambda _d: self._update_buttons())
        bus.changes_applied.connect(self._on_changes)
        self._show_note(None)

    # --- public state ------------------------------------------------------------------------
    def notes(self) -> list[NoteView]:
        """The notes as last loaded (newest visit first)."""
        return list(self._notes)

    def current_note(self) -> NoteView | None:
        return self._current

    def has_unsaved_changes(self) -> bool:
        """True when the open draft differs from what was loaded, or a refused addendum waits."""
        if self._addendum_draft.strip():
            return True
        return self._own_draft() and self._loaded is not None and self._snapshot() != self._loaded

    def set_patient(self, patient_id: str | None) -> None:
        """Show this patient's notes (read now if the tab is on screen, else when it is shown).
        The page asks about unsaved changes before calling this: whatever is unsaved is dropped."""
        if patient_id == self.patient_id and patient_id is not None:
            return
        self.patient_id = patient_id
        self._generation += 1
        self._notes, self._entries, self._addendum_draft = [], (), ""
        self._fill_list()
        self._show_note(None)
        self._say("", True)
        self._stale = patient_id is not None
        if self._stale and self.isVisible():
            self.reload()

    def reload(self) -> None:
        """Read the patient's notes, recent chart entries and the templates again."""
        patient_id = self.patient_id
        if patient_id is None:
            return
        self._stale = False
        self._generation += 1
        generation, want_templates = self._generation, self._templates is None

        def load() -> tuple[list[NoteView], tuple[EntryView, ...], Numbering, list[TemplateRow] | None]:
            notes = clinical_notes.list_notes(self.ctx, patient_id)
            chart = charting.open_chart(self.ctx, patient_id)
            templates = clinical_notes.list_templates(self.ctx) if want_templates else None
            return notes, chart.entries, chart.numbering, templates

        self.list_status.setText("Loading notes…")
        run_op(load, lambda r: self._apply_load(generation, patient_id, *r), self._load_failed)

    def confirm_discard(self) -> bool:
        """True when nothing is unsaved, or the user agrees to drop it."""
        if not self.has_unsaved_changes():
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved note",
            "The open draft note has unsaved changes. Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    def select_note(self, note_id: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == note_id:
                self.list.setCurrentRow(row)
                return

    # --- formatting --------------------------------------------------------------------------
    def day(self, d: date) -> str:
        """'21 Nov 2026', or 'Nov 21, 2026' where the clinic writes the month first."""
        month = _MONTHS[d.month - 1]
        return f"{month} {d.day}, {d.year}" if self.date_order == "MDY" else f"{d.day} {month} {d.year}"

    def when(self, instant: datetime) -> str:
        local = instant.astimezone(self.tz)
        return f"{self.day(local.date())} {local:%H:%M}"

    def today(self) -> date:
        return self.ctx.today()

    def _row_text(self, n: NoteView) -> str:
        """Two lines, so the state is never cut off: '21 Nov 2026 — Restorative' / 'Dr Patel — ✔ Signed'."""
        state = "✔ Signed" if n.signed else "Draft — not signed"
        extra = f" · {len(n.addenda)} addend{'a' if len(n.addenda) != 1 else 'um'}" if n.addenda else ""
        return f"{self.day(n.visit_date)} — {n.title}\n{n.author_name} — {state}{extra}"

    def _place(self, tooth: str | None, surfaces: str, region: str) -> str:
        try:
            return charting.place_label(tooth, surfaces, region, self._numbering)
        except Exception:  # a tooth this numbering cannot write: show it as stored
            return f"{tooth or ''} {surfaces}".strip() or "Whole mouth"

    # --- loading -----------------------------------------------------------------------------
    def _apply_load(
        self,
        generation: int,
        patient_id: str,
        notes: list[NoteView],
        entries: tuple[EntryView, ...],
        numbering: Numbering,
        templates: list[TemplateRow] | None,
    ) -> None:
        if generation != self._generation or patient_id != self.patient_id:
            return  # another patient (or a newer reload) meanwhile
        if templates is not None:
            self._set_templates(templates)
        self._notes, self._entries, self._numbering = notes, entries, numbering
        current = self._current
        fresh = next((n for n in notes if n.id == current.id), None) if current else None
        if current is not None and self.has_unsaved_changes():
            # keep what is being typed (and the version it started from, so a save still
            # detects an edit made elsewhere); only the list moves on
            self._fill_list(current.id)
            if fresh is None or fresh.version != current.version:
                self._say("This note has changed elsewhere since you opened it; your unsaved text is kept.", False)
        else:
            target = fresh or (notes[0] if notes else None)
            self._fill_list(target.id if target else None)
            self._show_note(target)
        self._update_buttons()

    def _load_failed(self, error: Exception) -> None:
        self.list_status.setText("The notes could not be read.")
        show_error(self, error)

    def _set_templates(self, templates: list[TemplateRow]) -> None:
        self._templates = templates
        self.template_combo.clear()
        for t in templates:
            self.template_combo.addItem(t.name, t.id)
        self.template_combo.addItem("Blank note", None)
        self.template_combo.setCurrentIndex(0)

    def _fill_list(self, select_id: str | None = None) -> None:
        self.list.blockSignals(True)
        try:
            self.list.clear()
            bold = QFont(self.list.font())
            bold.setBold(True)
            for n in self._notes:
                item = QListWidgetItem(self._row_text(n))
                item.setData(Qt.ItemDataRole.UserRole, n.id)
                item.setToolTip(self._row_text(n))
                if not n.signed:
                    item.setFont(bold)
                    item.setForeground(QBrush(QColor(DRAFT_INK)))
                    item.setBackground(QBrush(QColor(DRAFT_FILL)))
                self.list.addItem(item)
                if n.id == select_id:
                    self.list.setCurrentItem(item)
        finally:
            self.list.blockSignals(False)
        if self.patient_id is None:
            self.list_status.setText("")
        elif not self._notes:
            hint = " Choose a template and click New note." if self.can_write else ""
            self.list_status.setText("No notes for this patient yet." + hint)
        else:
            drafts = sum(1 for n in self._notes if not n.signed)
            text = f"{len(self._notes)} note{'s' if len(self._notes) != 1 else ''}"
            self.list_status.setText(text + (f", {drafts} unsigned" if drafts else "") + ".")

    # --- showing a note ----------------------------------------------------------------------
    def _own_draft(self, note: NoteView | None = None) -> bool:
        note = note or self._current
        return self.can_write and note is not None and not note.signed and note.author_id == self.me

    def _row_chosen(self, row: int) -> None:
        item = self.list.item(row) if row >= 0 else None
        note_id = item.data(Qt.ItemDataRole.UserRole) if item else None
        if self._current is not None and note_id == self._current.id:
            return
        if not self.confirm_discard():
            self._fill_list(self._current.id if self._current else None)  # stay on the draft
            return
        self._addendum_draft = ""
        self._show_note(next((n for n in self._notes if n.id == note_id), None))
        self._say("", True)

    def _show_note(self, note: NoteView | None) -> None:
        self._current = note
        if note is None:
            self._loaded = None
            if self.patient_id is None:
                self.empty.setText("Open a patient to see their clinical notes.")
            elif self._notes:
                self.empty.setText("Choose a note on the left.")
            else:
                hint = "\nChoose a template on the left and click New note." if self.can_write else ""
                self.empty.setText("No notes yet." + hint)
            self.right.setCurrentWidget(self.empty)
            self._update_buttons()
            return
        editable = self._own_draft(note)
        if self.title.text() != note.title:
            self.title.setText(note.title)
            self.title.setCursorPosition(0)
        self.title.setReadOnly(not editable)
        self.title.setStyleSheet(TITLE_EDITABLE if editable else TITLE_READ_ONLY)
        self.visit_date.blockSignals(True)
        self.visit_date.setMaximumDate(_qdate(max(self.today(), note.visit_date)))
        self.visit_date.setDate(_qdate(note.visit_date))
        self.visit_date.blockSignals(False)
        self.visit_date.setReadOnly(not editable)
        self.visit_date.setFrame(editable)  # a read-only date reads as text, not as a box to type in
        self.visit_date.setStyleSheet("" if editable else "QDateEdit { background: transparent; }")
        self.visit_date.setCalendarPopup(editable)
        self.visit_date.setButtonSymbols(
            QAbstractSpinBox.ButtonSymbols.UpDownArrows if editable else QAbstractSpinBox.ButtonSymbols.NoButtons
        )
        if self.body.toPlainText() != note.body:  # a save keeps the cursor where it was
            self.body.setPlainText(note.body)
        self.body.setReadOnly(not editable)
        self.body.setStyleSheet(EDITABLE_TEXT if editable else READ_ONLY_TEXT)
        self._show_meta(note)
        self._fill_procedures(note, editable)
        self._show_addenda(note)
        self._loaded = _of(note)
        self.right.setCurrentWidget(self.right.widget(1))
        self._update_buttons()

    def _show_meta(self, note: NoteView) -> None:
        created = f"Created {self.when(note.created_at)}"
        if note.signed:
            self.meta.setText(f"By {note.author_name} · {created}")
            assert note.signed_at is not None
            self.banner.setText(
                f"<b>✔ Signed by {escape(note.author_name)} on {self.when(note.signed_at)}</b><br>"
                "This note is signed and can no longer be changed; add an addendum to extend it."
            )
            self.banner.setStyleSheet(SIGNED_BANNER)
        else:
            self.meta.setText(f"By {note.author_name} · {created} · Last edited {self.when(note.updated_at)}")
            if self._own_draft(note):
                text = (
                    "<b>Draft — not signed yet.</b> Save as you go; sign it when the note is complete. "
                    "Once signed it can no longer be changed."
                )
            else:
                text = (
                    f"<b>Draft by {escape(note.author_name)} — not signed yet.</b> "
                    f"Only {escape(note.author_name)} can edit, sign or discard it."
                )
            self.banner.setText(text)
            self.banner.setStyleSheet(DRAFT_BANNER)

    def _fill_procedures(self, note: NoteView, editable: bool) -> None:
        """Linked procedures; on an editable draft, also the last month's chart entries to tick."""
        by_id = {e.id: e for e in self._entries}
        linked = {p.chart_entry_id for p in note.procedures}
        elsewhere = {p.chart_entry_id: n.title for n in self._notes if n.id != note.id for p in n.procedures}
        self.procedures.blockSignals(True)
        try:
            self.procedures.clear()
            rows: list[tuple[str, str]] = []  # (entry id, text)
            if editable:
                since = self.today() - timedelta(days=RECENT_DAYS)
                recent = [e for e in self._entries if e.kind != charting.CONDITION and e.entry_date >= since]
                rows += [
                    (e.id, self._entry_text(e) + (f" · in the “{elsewhere[e.id]}” note" if e.id in elsewhere else ""))
                    for e in recent
                ]
                shown = {e.id for e in recent}
            else:
                shown = set()
            for p in note.procedures:
                if p.chart_entry_id in shown:
                    continue
                e = by_id.get(p.chart_entry_id)
                if e is not None:
                    rows.append((e.id, self._entry_text(e)))
                else:  # removed from the chart since: the note still names it
                    place = self._place(p.tooth, p.surfaces, "")
                    rows.append((p.chart_entry_id, f"{place} — {p.description} ({p.status}, no longer on the chart)"))
            for entry_id, text in rows:
                item = QListWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry_id)
                if editable:
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                    checked = entry_id in linked
                    item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                else:
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.procedures.addItem(item)
            if not rows:
                empty = (
                    "No procedures charted in the last 30 days." if editable else "No procedures linked to this note."
                )
                item = QListWidgetItem(empty)
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                self.procedures.addItem(item)
        finally:
            self.procedures.blockSignals(False)
        if editable:
            self.procedures_label.setText("Procedures this note records — tick those done at this visit")
        else:
            self.procedures_label.setText(f"Procedures linked to this note ({len(note.procedures)})")
        shown_rows = min(max(self.procedures.count(), 1), 6)
        row = max(self.procedures.sizeHintForRow(0), self.procedures.fontMetrics().height() + 6)
        self.procedures.setFixedHeight(shown_rows * row + 2 * self.procedures.frameWidth() + 6)

    def _entry_text(self, e: EntryView) -> str:
        status = "" if e.status == "completed" else f" ({e.status})"
        return f"{self.day(e.entry_date)} — {self._place(e.tooth, e.surfaces, e.region)} — {e.description}{status}"

    def _show_addenda(self, note: NoteView) -> None:
        self.addenda_box.setVisible(bool(note.addenda))
        self.addenda_label.setText(f"Addenda ({len(note.addenda)})")
        blocks = []
        for a in note.addenda:
            text = escape(a.body).replace("\n", "<br>")
            heading = f"Addendum — {escape(a.author_name)} — {self.when(a.signed_at)}"
            blocks.append(
                f"<p style='margin: 0 0 2px 0;'><b>{heading}</b></p><p style='margin: 0 0 12px 0;'>{text}</p>"
            )
        self.addenda.setHtml("".join(blocks))

    def _fit_addenda(self) -> None:
        """As tall as the addenda, up to a third of the tab; longer ones scroll."""
        wanted = int(self.addenda.document().size().height()) + 2 * self.addenda.frameWidth() + 4
        self.addenda.setFixedHeight(max(48, min(wanted, max(160, self.height() // 3))))

    def _snapshot(self) -> _Snapshot:
        d = self.visit_date.date()
        checked = []
        for row in range(self.procedures.count()):
            item = self.procedures.item(row)
            if item.flags() & Qt.ItemFlag.ItemIsUserCheckable and item.checkState() == Qt.CheckState.Checked:
                checked.append(item.data(Qt.ItemDataRole.UserRole))
        return _Snapshot(
            self.title.text(), self.body.toPlainText(), date(d.year(), d.month(), d.day()), tuple(sorted(checked))
        )

    def _update_buttons(self) -> None:
        note, idle = self._current, self._busy == 0
        own_draft = self._own_draft()
        self.new_button.setEnabled(self.can_write and self.patient_id is not None and idle)
        self.template_combo.setEnabled(self.can_write and self.patient_id is not None)
        self.save_button.setEnabled(own_draft and idle)
        self.sign_button.setEnabled(own_draft and idle)
        self.discard_button.setEnabled(own_draft and idle)
        self.addendum_button.setEnabled(self.can_write and note is not None and note.signed and idle)
        unsaved = own_draft and self._loaded is not None and self._snapshot() != self._loaded
        self.save_button.setText("Save draft*" if unsaved else "Save draft")

    def _say(self, text: str, ok: bool) -> None:
        self.message.setStyleSheet(f"color: {OK_INK if ok else ERROR_INK};")
        self.message.setText(text)

    def _replace(self, view: NoteView) -> None:
        self._notes = _newest_first([n for n in self._notes if n.id != view.id] + [view])
        self._fill_list(view.id)

    # --- actions -----------------------------------------------------------------------------
    def _run(
        self, fn: Callable[[], object], done: Callable[[object], None], failed: Callable[[Exception], None]
    ) -> None:
        """A change through the service; the action buttons wait for it."""
        self._busy += 1
        self._update_buttons()

        def finish_done(result: object) -> None:
            self._busy -= 1
            done(result)
            self._update_buttons()

        def finish_failed(error: Exception) -> None:
            self._busy -= 1
            failed(error)
            self._update_buttons()

        run_op(fn, finish_done, finish_failed, changes=CHANGES, origin=self)

    def _failed(self, doing: str) -> Callable[[Exception], None]:
        def failed(error: Exception) -> None:
            self._say(f"Not {doing}: {error}" if isinstance(error, UserError) else f"Not {doing}.", False)
            show_error(self, error)

        return failed

    def _today_procedures(self) -> list[str]:
        """Completed work charted today that no other note records yet: what a new note links."""
        today = self.today()
        taken = {p.chart_entry_id for n in self._notes for p in n.procedures}
        return [
            e.id
            for e in self._entries
            if e.kind != charting.CONDITION and e.status == "completed" and e.entry_date == today and e.id not in taken
        ]

    def new_note(self) -> None:
        """Start a draft for today's visit from the chosen template, today's completed work linked."""
        patient_id = self.patient_id
        if patient_id is None or not self.new_button.isEnabled() or not self.confirm_discard():
            return
        template_id = self.template_combo.currentData()
        title = self.template_combo.currentText() if template_id else BLANK_TITLE
        procedure_ids = self._today_procedures()
        self._addendum_draft = ""

        def call() -> NoteView:
            return clinical_notes.create_note(
                self.ctx, patient_id, title=title, template_id=template_id, procedure_ids=procedure_ids
            )

        def done(view: object) -> None:
            assert isinstance(view, NoteView)
            if view.patient_id != self.patient_id:
                return
            self._replace(view)
            self._show_note(view)
            linked = len(view.procedures)
            plural = "s" if linked != 1 else ""
            self._say(f"Draft started with {linked} procedure{plural} linked." if linked else "Draft started.", True)
            self._start_typing()

        self._run(call, done, self._failed("created"))

    def _start_typing(self) -> None:
        """Focus the body at the end of the template's first heading."""
        cursor = self.body.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.Start)
        cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
        self.body.setTextCursor(cursor)
        self.body.setFocus(Qt.FocusReason.OtherFocusReason)

    def save_draft(self) -> None:
        note = self._current
        if note is None or not self._own_draft() or self._busy:
            return
        sent = self._snapshot()

        def call() -> NoteView:
            return self._update(note, sent)

        def done(view: object) -> None:
            assert isinstance(view, NoteView)
            self._saved(view)
            self._say(f"Draft saved at {self.when(view.updated_at).rsplit(' ', 1)[-1]}.", True)

        self._run(call, done, self._failed("saved"))

    def _update(self, note: NoteView, sent: _Snapshot) -> NoteView:
        return clinical_notes.update_note(
            self.ctx,
            note.id,
            note.version,
            title=sent.title,
            body=sent.body,
            visit_date=sent.visit_date,
            procedure_ids=sent.procedure_ids,
        )

    def _saved(self, view: NoteView) -> None:
        """A save went through: the draft is now this version; text typed meanwhile is kept."""
        if self._current is None or self._current.id != view.id:
            self._replace(view)
            return
        typed, stored = self._snapshot(), _of(view)
        self._replace(view)
        if replace(typed, title=stored.title) == stored:  # the service tidies the title's spaces
            self._show_note(view)
        else:  # typed on while it saved: keep that text, as unsaved, on top of the saved version
            self._current, self._loaded = view, _of(view)
            self._show_meta(view)
        self._update_buttons()

    def prompt_sign(self) -> None:
        note = self._current
        if note is None or not self._own_draft():
            return
        dialog = SignNoteDialog(self.title.text() or note.title, note.author_name, self.has_unsaved_changes(), self)
        if dialog.exec():
            self.sign_current(dialog.password.text())

    def sign_current(self, password: str) -> None:
        """Sign the open draft with the author's password, saving what is typed first."""
        note = self._current
        if note is None or not self._own_draft() or self._busy:
            return
        sent = self._snapshot() if self.has_unsaved_changes() else None
        saved: list[NoteView] = []

        def call() -> NoteView:
            version = note.version
            if sent is not None:  # sign what the author sees, not an older save
                saved.append(self._update(note, sent))
                version = saved[0].version
            return clinical_notes.sign_note(self.ctx, note.id, version, password)

        def done(view: object) -> None:
            assert isinstance(view, NoteView)
            self._replace(view)
            if self._current is not None and self._current.id == view.id:
                self._show_note(view)
            assert view.signed_at is not None
            self._say(f"Signed at {self.when(view.signed_at).rsplit(' ', 1)[-1]}.", True)

        def failed(error: Exception) -> None:
            if saved:
                self._saved(saved[0])
                self._say(f"Saved, but not signed: {error}", False)
            else:
                self._say(f"Not signed: {error}" if isinstance(error, UserError) else "Not signed.", False)
            show_error(self, error)

        self._run(call, done, failed)

    def prompt_addendum(self) -> None:
        note = self._current
        if note is None or not note.signed or not self.addendum_button.isEnabled():
            return
        assert self.ctx.actor is not None
        dialog = AddendumDialog(note.title, self.ctx.actor.display_name, self._addendum_draft, self)
        if dialog.exec():
            self.add_addendum(dialog.text.toPlainText(), dialog.password.text())
        else:
            self._addendum_draft = ""

    def add_addendum(self, text: str, password: str) -> None:
        """Add a signed addendum to the open signed note; if refused, the text is offered again."""
        note = self._current
        if note is None or not note.signed or not self.can_write or self._busy:
            return
        self._addendum_draft = text

        def call() -> NoteView:
            return clinical_notes.add_addendum(self.ctx, note.id, text, password)

        def done(view: object) -> None:
            assert isinstance(view, NoteView)
            self._addendum_draft = ""
            self._replace(view)
            if self._current is not None and self._current.id == view.id:
                self._show_note(view)
            self._say("Addendum added.", True)

        def failed(error: Exception) -> None:
            self._say(
                f"Addendum not added: {error} Your text is kept: click Add addendum… again."
                if isinstance(error, UserError)
                else "Addendum not added; your text is kept.",
                False,
            )
            show_error(self, error)

        self._run(call, done, failed)

    def discard_draft(self) -> None:
        note = self._current
        if note is None or not self._own_draft() or self._busy:
            return
        answer = QMessageBox.question(
            self,
            "Discard draft",
            f"Discard the draft note “{note.title}”? It was never signed; this cannot be undone here.",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Discard:
            return

        def call() -> None:
            clinical_notes.discard_draft(self.ctx, note.id, note.version)

        def done(_result: object) -> None:
            self._notes = [n for n in self._notes if n.id != note.id]
            if self._current is not None and self._current.id == note.id:
                self._loaded = None
                nxt = self._notes[0] if self._notes else None
                self._fill_list(nxt.id if nxt else None)
                self._show_note(nxt)
            else:
                self._fill_list(self._current.id if self._current else None)
            self._say("Draft discarded.", True)

        self._run(call, done, self._failed("discarded"))

    # --- elsewhere ---------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.reload()

    def _on_changes(self, areas: frozenset[str], origin: object) -> None:
        if "chart" not in areas or origin is self or self.patient_id is None:
            return
        if self.isVisible():
            self.reload()
        else:
            self._stale = True
