"""The Treatment plans tab: each plan as a card of phases and procedures with its estimate.

Options offered for the same treatment (an option group) sit side by side in one row so the
dentist and the patient can compare what each costs; groups stack top to bottom, oldest first.
The accepted option is highlighted and declined ones dimmed. Insurance estimates come from the
service (exact cents); this screen only formats them.

Who may do what follows the roles: clinicians (chart:write) plan, re-quote, re-order and complete
work; the front desk may view plans, record the patient's decision and type in the insurance
benefits. Controls a role may not use stay visible but disabled; the services enforce it anyway.
"""

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.catalogue import Category, format_money, parse_money
from app.domain.errors import UserError
from app.domain.estimates import Benefits
from app.domain.permissions import Scope
from app.services import charting, treatment_plans
from app.services.context import Ctx
from app.services.treatment_plans import BenefitsView, PlanItemView, PlansView, PlanView
from app.ui.chart.benefits_dialog import BenefitsDialog, money_text
from app.ui.errors import show_error
from app.ui.ops import bus, run_op

CHANGES = frozenset({"chart"})
# another screen changed the chart (planned work) or the patient's record (their insurance)
WATCHED = frozenset({"chart", "patients"})
OPEN = ("proposed", "accepted")

GREY = "#5F6B73"
DONE_GREY = "#8A949B"
CAPPED_AMBER = "#8A5300"
STATUS_COLOURS = {"proposed": "#5F6B73", "accepted": "#1B5E20", "declined": "#8A949B", "completed": "#0B57D0"}
MAX_CARD_WIDTH = 860
CAPPED_MARK = "↓"
CAPPED_TIP = "Reduced: annual maximum reached"
NOT_ESTIMATED = "—"

CARD_STYLE = """
QFrame#planCard { border: 1px solid #C9D1D6; border-radius: 6px; background: #FFFFFF; }
QFrame#planCard[state="accepted"] { border: 2px solid #2E7D32; background: #F3FAF3; }
QFrame#planCard[state="declined"] { border: 1px dashed #AEB7BD; background: #F5F6F7; }
QFrame#planCard[current="true"] { border: 2px solid #0B57D0; }
"""

# --- wording ----------------------------------------------------------------------------------


def day_text(d: date) -> str:
    """date(2026, 11, 21) -> '21 Nov 2026'."""
    return f"{d.day} {d:%b %Y}"


def _joined(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} & {labels[-1]}"


def coverage_text(b: Benefits) -> str:
    """'Diagnostic & Preventive 100 %; Restorative 80 %; other work 0 %'."""
    by_pct: dict[int, list[str]] = {}
    for c in Category:
        pct = int(b.coverage_pct.get(c.value, 0))
        if pct > 0:
            by_pct.setdefault(pct, []).append(c.label)
    if not by_pct:
        return "no work covered"
    parts = [f"{_joined(labels)} {pct} %" for pct, labels in sorted(by_pct.items(), reverse=True)]
    if any(int(b.coverage_pct.get(c.value, 0)) == 0 for c in Category):
        parts.append("other work 0 %")
    return "; ".join(parts)


def insurance_text(bv: BenefitsView | None) -> str:
    """The tab's one-line summary of the patient's primary insurance for this year."""
    if bv is None:
        return "No insurance on file — estimates show the full fee as the patient's portion."
    carrier = bv.carrier or "(carrier not named)"
    if bv.version is None:
        return (
            f"Primary insurance: {carrier} — Benefits not recorded: insurance is not estimated until they are "
            "(use Benefits…)."
        )
    b = bv.benefits
    deductible = (
        f"Deductible {format_money(b.deductible_cents)} ({format_money(b.deductible_met_cents)} met)"
        if b.deductible_cents
        else "No deductible"
    )
    maximum = (
        f"Annual max {format_money(b.annual_max_cents)}, {format_money(b.max_used_cents)} used"
        if b.annual_max_cents
        else "No annual maximum"
    )
    return f"Primary insurance: {carrier} — {coverage_text(b)} · {deductible} · {maximum}"


def status_text(plan: PlanView) -> str:
    """The badge: 'Proposed', 'Accepted 21 Nov 2026', 'Declined 21 Nov 2026', 'Completed 2 Dec 2026'
    (a declined plan's reason is shown under its title)."""
    if plan.status == "accepted":
        return f"Accepted {day_text(plan.accepted_on)}" if plan.accepted_on else "Accepted"
    if plan.status == "declined":
        return f"Declined {day_text(plan.declined_on)}" if plan.declined_on else "Declined"
    if plan.status == "completed":
        return f"Completed {day_text(plan.completed_on)}" if plan.completed_on else "Completed"
    return "Proposed"


def _money_item_alignment() -> Qt.AlignmentFlag:
    return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


# --- one plan ---------------------------------------------------------------------------------


class PlanCard(QFrame):
    """One plan: its title and status, phases and lines, totals, and the buttons that change it."""

    pressed = Signal(str)  # the plan's id, when the card is clicked anywhere

    COLUMNS = ("#", "Where", "Code", "Procedure", "Fee", "Ins. est.", "Patient est.")
    FEE, INSURANCE, PATIENT = 4, 5, 6
    PROCEDURE = 3

    def __init__(
        self,
        tab: "PlansTab",
        plan: PlanView,
        options: list[PlanView],
        *,
        estimated: bool,
        current: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.tab, self.plan, self.estimated = tab, plan, estimated
        self.setObjectName("planCard")
        self.setProperty("state", plan.status)
        self.setProperty("current", current)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        # wide enough to read, not so wide that one plan's figures drift far from its procedures
        self.setMaximumWidth(MAX_CARD_WIDTH)
        self._lines: dict[str, PlanItemView] = {i.id: i for i in plan.items}
        self._tree_items: dict[str, QTreeWidgetItem] = {}

        self.title = QLabel(plan.name)
        self.title.setObjectName("planTitle")
        self.title.setStyleSheet("font-size: 15px; font-weight: 600; border: none; background: transparent;")
        self.title.setWordWrap(True)
        if plan.status == "declined":
            self.title.setStyleSheet(self.title.styleSheet() + f"color: {DONE_GREY};")
        self.badge = QLabel(status_text(plan))
        self.badge.setObjectName("planStatus")
        self.badge.setToolTip(f"Proposed on {day_text(plan.proposed_on)}")
        self.badge.setStyleSheet(
            f"color: white; background: {STATUS_COLOURS.get(plan.status, GREY)}; border: none;"
            "border-radius: 9px; padding: 2px 9px; font-weight: 600;"
        )
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addLayout(head)
        self.reason = QLabel(f"Reason: {plan.status_reason}" if plan.status == "declined" else "")
        self.reason.setObjectName("planReason")
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet(f"color: {GREY}; font-style: italic; border: none; background: transparent;")
        self.reason.setVisible(plan.status == "declined" and bool(plan.status_reason))
        layout.addWidget(self.reason)
        if plan.note:
            note = QLabel(plan.note)
            note.setWordWrap(True)
            note.setStyleSheet(f"color: {GREY}; border: none; background: transparent;")
            layout.addWidget(note)

        self.tree = QTreeWidget()
        self.tree.setObjectName("planLines")
        self.empty = QLabel(
            "No procedures in this plan yet. On the Tooth chart, add planned work and choose this plan for it."
        )
        self.empty.setObjectName("planEmpty")
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(f"color: {GREY}; border: none; background: transparent; padding: 12px 0;")
        self._fill_tree()
        layout.addWidget(self.tree)
        layout.addWidget(self.empty)
        self.tree.setVisible(bool(plan.items))
        self.empty.setVisible(not plan.items)

        # what the selected line can have done to it
        self.earlier_button = QPushButton("Earlier")
        self.later_button = QPushButton("Later")
        self.phase_button = QPushButton("Move to phase…")
        self.fee_button = QPushButton("Change fee…")
        self.complete_button = QPushButton("Complete…")
        self.remove_button = QPushButton("Remove…")
        tips = {
            self.earlier_button: "Do the selected procedure earlier within its phase",
            self.later_button: "Do the selected procedure later within its phase",
            self.phase_button: "Put the selected procedure in another phase (1–9)",
            self.fee_button: "Quote a different fee for the selected procedure",
            self.complete_button: "Record the selected procedure as done today, by you",
            self.remove_button: "Take back a procedure planned in error (a reason is kept in the audit trail)",
        }
        tools = QHBoxLayout()
        for button, name in (
            (self.earlier_button, "lineEarlier"),
            (self.later_button, "lineLater"),
            (self.phase_button, "linePhase"),
            (self.fee_button, "lineFee"),
            (self.complete_button, "lineComplete"),
            (self.remove_button, "lineRemove"),
        ):
            button.setObjectName(name)
            button.setToolTip(
                tips[button] if tab.can_edit else "Only clinicians change fees, phases and completed work."
            )
            tools.addWidget(button)
        tools.addStretch()
        self.earlier_button.clicked.connect(lambda: self._nudge(-1))
        self.later_button.clicked.connect(lambda: self._nudge(+1))
        self.phase_button.clicked.connect(self._ask_phase)
        self.fee_button.clicked.connect(self._ask_fee)
        self.complete_button.clicked.connect(self._ask_complete)
        self.remove_button.clicked.connect(self._ask_remove)
        if plan.items:
            layout.addLayout(tools)

        # the patient's decision, and the totals beside it
        self.accept_button = QPushButton("Accept")
        self.accept_button.setObjectName("planAccept")
        self.decline_button = QPushButton("Decline…")
        self.decline_button.setObjectName("planDecline")
        self.reopen_button = QPushButton("Reopen")
        self.reopen_button.setObjectName("planReopen")
        self.reopen_button.setToolTip("Offer this plan again (back to proposed)")
        self.accept_button.clicked.connect(lambda: tab.set_plan_status(plan.id, "accepted"))
        self.decline_button.clicked.connect(lambda: tab.ask_decline(plan.id))
        self.reopen_button.clicked.connect(lambda: tab.set_plan_status(plan.id, "proposed"))
        self._set_decision_buttons(options)
        decisions = QVBoxLayout()
        decisions.addStretch()
        row = QHBoxLayout()
        for button in (self.accept_button, self.decline_button, self.reopen_button):
            row.addWidget(button)
        decisions.addLayout(row)

        self.totals = self._totals()
        bottom = QHBoxLayout()
        bottom.addLayout(decisions)
        bottom.addStretch()
        bottom.addWidget(self.totals)
        layout.addLayout(bottom)

        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemPressed.connect(lambda *_a: self.pressed.emit(self.plan.id))
        self._update_line_buttons()

    # --- building ------------------------------------------------------------------------
    def _money(self, cents: int) -> str:
        return format_money(cents)

    def _fill_tree(self) -> None:
        tree, plan = self.tree, self.plan
        tree.setColumnCount(len(self.COLUMNS))
        tree.setHeaderLabels(list(self.COLUMNS))
        header_item = tree.headerItem()
        for col in (self.FEE, self.INSURANCE, self.PATIENT):
            header_item.setTextAlignment(col, _money_item_alignment())
        header_item.setToolTip(self.INSURANCE, "What the insurance should pay (an estimate)")
        header_item.setToolTip(self.PATIENT, "What the patient should pay (an estimate)")
        tree.setRootIsDecorated(False)
        tree.setItemsExpandable(False)
        tree.setIndentation(14)
        tree.setUniformRowHeights(True)
        tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        tree.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        bold = QFont(tree.font())
        bold.setBold(True)
        phase_bg = QBrush(QColor("#EEF2F5"))
        done = QBrush(QColor(DONE_GREY))
        # a declined option is dimmed: all its text grey, as work that will not happen
        dimmed = plan.status == "declined"
        # rows a little taller than the font (set on the stretched column, whose width hint is unused)
        row_size = QSize(1, tree.fontMetrics().height() + 8)
        for phase in plan.phases:
            lines = [i for i in plan.items if i.phase == phase]
            top = QTreeWidgetItem(
                [
                    f"Phase {phase}",
                    "",
                    "",
                    f"{len(lines)} procedure{'s' if len(lines) != 1 else ''}",
                    self._money(sum(i.fee_cents for i in lines)),
                    self._money(sum(i.insurance_cents for i in lines)) if self.estimated else NOT_ESTIMATED,
                    self._money(sum(i.patient_cents for i in lines)) if self.estimated else NOT_ESTIMATED,
                ]
            )
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setSizeHint(self.PROCEDURE, row_size)
            for col in range(len(self.COLUMNS)):
                top.setFont(col, bold)
                top.setBackground(col, phase_bg)
                if dimmed:
                    top.setForeground(col, done)
            for col in (self.FEE, self.INSURANCE, self.PATIENT):
                top.setTextAlignment(col, _money_item_alignment())
            top.setToolTip(self.FEE, f"Phase {phase} subtotal")
            tree.addTopLevelItem(top)
            for position, line in enumerate(lines, start=1):
                description = line.description
                if line.status == "completed" and line.completed_on:
                    description = f"✔ done {day_text(line.completed_on)} · {line.description}"
                elif line.status == "referred":
                    description = f"Referred · {line.description}"
                insurance = self._money(line.insurance_cents) if self.estimated else NOT_ESTIMATED
                if self.estimated and line.capped:
                    insurance = f"{CAPPED_MARK} {insurance}"
                child = QTreeWidgetItem(
                    [
                        str(position),
                        line.place,
                        line.code,
                        description,
                        self._money(line.fee_cents),
                        insurance,
                        self._money(line.patient_cents) if self.estimated else NOT_ESTIMATED,
                    ]
                )
                child.setData(0, Qt.ItemDataRole.UserRole, line.id)
                child.setSizeHint(self.PROCEDURE, row_size)
                child.setToolTip(self.PROCEDURE, description)
                for col in (self.FEE, self.INSURANCE, self.PATIENT):
                    child.setTextAlignment(col, _money_item_alignment())
                if self.estimated and line.capped:
                    child.setToolTip(self.INSURANCE, CAPPED_TIP)
                    child.setForeground(self.INSURANCE, QBrush(QColor(CAPPED_AMBER)))
                if not self.estimated:
                    child.setToolTip(self.INSURANCE, "Record the insurance benefits to estimate this.")
                if line.status == "completed" or dimmed:
                    for col in range(len(self.COLUMNS)):
                        child.setForeground(col, done)
                top.addChild(child)
                self._tree_items[line.id] = child
        tree.expandAll()

        header = tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.PROCEDURE, QHeaderView.ResizeMode.Stretch)
        # wide enough for every column but the procedure, which elides (its tooltip has it whole)
        widths = [max(tree.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(len(self.COLUMNS))]
        longest = max((tree.fontMetrics().horizontalAdvance(i.description) for i in plan.items), default=0)
        widths[self.PROCEDURE] = min(max(longest + 12, 140), 240)
        tree.setMinimumWidth(sum(widths) + 2 * tree.frameWidth() + 8)
        rows = sum(1 + top.childCount() for top in (tree.topLevelItem(i) for i in range(tree.topLevelItemCount())))
        tree.setFixedHeight(header.sizeHint().height() + rows * row_size.height() + 2 * tree.frameWidth())

    def _totals(self) -> QWidget:
        est = self.plan.estimate
        box = QWidget()
        box.setObjectName("planTotals")
        box.setStyleSheet("background: transparent;")
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 4, 0, 0)
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(2)
        rows: list[tuple[str, str]] = [("Fee total", format_money(est.fee_total_cents))]
        if self.estimated:
            rows.append(("Insurance estimate", format_money(est.insurance_total_cents)))
            rows.append(("Patient portion", format_money(est.patient_total_cents)))
        else:
            rows.append(("Insurance estimate", "not estimated"))
            rows.append(("Patient portion", "not estimated"))
        self._total_labels: list[QLabel] = []
        for r, (label, value) in enumerate(rows):
            name, figure = QLabel(label), QLabel(value)
            figure.setAlignment(_money_item_alignment())
            if label == "Patient portion":
                for w in (name, figure):
                    w.setStyleSheet("font-weight: 600;")
            grid.addWidget(name, r, 0)
            grid.addWidget(figure, r, 1)
            self._total_labels += [name, figure]
        notes: list[str] = []
        if self.estimated and est.deductible_applied_cents:
            notes.append(f"Deductible applied: {format_money(est.deductible_applied_cents)}")
        if self.estimated and est.max_remaining_before_cents is not None:
            after = est.max_remaining_after_cents or 0
            notes.append(
                f"Annual maximum left: {format_money(est.max_remaining_before_cents)} → "
                f"{format_money(after)} after this plan"
            )
        if self.estimated and any(i.capped for i in self.plan.items):
            notes.append(f"{CAPPED_MARK} {CAPPED_TIP}")
        if not self.estimated:
            notes.append("Record the insurance benefits (Benefits…) to estimate.")
        for n, text in enumerate(notes, start=len(rows)):
            note = QLabel(text)
            note.setStyleSheet(f"color: {CAPPED_AMBER if text.startswith(CAPPED_MARK) else GREY};")
            grid.addWidget(note, n, 0, 1, 2, Qt.AlignmentFlag.AlignRight)
            self._total_labels.append(note)
        return box

    def _set_decision_buttons(self, options: list[PlanView]) -> None:
        status, tab = self.plan.status, self.tab
        chosen = next((p for p in options if p.status == "accepted" and p.id != self.plan.id), None)
        self.accept_button.setVisible(status in ("proposed", "declined"))
        self.decline_button.setVisible(status in OPEN)
        self.reopen_button.setVisible(status == "declined")
        self.accept_button.setEnabled(tab.can_decide and chosen is None)
        self.decline_button.setEnabled(tab.can_decide)
        self.reopen_button.setEnabled(tab.can_decide)
        others = [p.name for p in options if p.id != self.plan.id and p.status == "proposed"]
        if chosen is not None:
            self.accept_button.setToolTip(f"The patient chose “{chosen.name}”; decline it first to choose this one.")
        elif others:
            self.accept_button.setToolTip(
                f"Record that the patient chose this plan; {_joined([f'“{n}”' for n in others])} "
                f"will be marked declined."
            )
        else:
            self.accept_button.setToolTip("Record that the patient accepted this plan (dated today)")
        self.decline_button.setToolTip("Record that the patient declined this plan, with their reason")
        if not tab.can_decide:
            for b in (self.accept_button, self.decline_button, self.reopen_button):
                b.setToolTip("Your role cannot record the patient's decision.")

    # --- reading (tests and the tab) -----------------------------------------------------
    def rows(self) -> list[tuple[str, ...]]:
        """Every row of the tree as its column texts, phases first then their lines."""
        out: list[tuple[str, ...]] = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            out.append(tuple(top.text(c) for c in range(len(self.COLUMNS))))
            for j in range(top.childCount()):
                child = top.child(j)
                out.append(tuple(child.text(c) for c in range(len(self.COLUMNS))))
        return out

    def has_line(self, item_id: str) -> bool:
        return item_id in self._lines

    def tree_item(self, item_id: str) -> QTreeWidgetItem:
        return self._tree_items[item_id]

    def totals_text(self) -> str:
        """The totals footer as plain text, one figure per line ('Fee total $1,470.00', ...)."""
        texts = [label.text() for label in self._total_labels]
        lines: list[str] = []
        i = 0
        while i < len(texts):
            if i + 1 < len(texts) and texts[i] in ("Fee total", "Insurance estimate", "Patient portion"):
                lines.append(f"{texts[i]} {texts[i + 1]}")
                i += 2
            else:
                lines.append(texts[i])
                i += 1
        return "\n".join(lines)

    def selected_item(self) -> PlanItemView | None:
        items = self.tree.selectedItems()
        if not items:
            return None
        item_id = items[0].data(0, Qt.ItemDataRole.UserRole)
        return self._lines.get(item_id) if item_id else None

    def select_item(self, item_id: str) -> None:
        item = self._tree_items.get(item_id)
        if item is not None:
            self.tree.setCurrentItem(item)

    # --- acting on the selected line -----------------------------------------------------
    def _position(self, line: PlanItemView) -> tuple[int, int]:
        """(1-based place of the line in its phase, lines in that phase)."""
        same = [i.id for i in self.plan.items if i.phase == line.phase]
        return same.index(line.id) + 1, len(same)

    def _selection_changed(self) -> None:
        line = self.selected_item()
        if line is not None:
            self.tab.remember_selection(self.plan.id, line.id)
        self._update_line_buttons()

    def _update_line_buttons(self) -> None:
        line = self.selected_item()
        editable = self.tab.can_edit and self.plan.status in OPEN and line is not None
        planned = editable and line is not None and line.status == "planned"
        position, count = self._position(line) if line is not None else (0, 0)
        self.earlier_button.setEnabled(planned and position > 1)
        self.later_button.setEnabled(planned and position < count)
        self.phase_button.setEnabled(planned)
        self.fee_button.setEnabled(planned)
        self.remove_button.setEnabled(planned)
        self.complete_button.setEnabled(editable and line is not None and line.status in ("planned", "referred"))

    def _nudge(self, step: int) -> None:
        line = self.selected_item()
        if line is not None:
            position, _count = self._position(line)
            self.tab.move_line(line.id, line.phase, position + step)

    def _ask_phase(self) -> None:
        line = self.selected_item()
        if line is None:
            return
        phase, ok = QInputDialog.getInt(
            self,
            "Move to phase",
            f"Move {line.code} ({line.place}) to phase:",
            line.phase,
            1,
            9,
        )
        if ok and phase != line.phase:
            # last in its new phase; Earlier/Later then place it
            self.tab.move_line(line.id, phase, 99)

    def _ask_fee(self) -> None:
        line = self.selected_item()
        if line is None:
            return
        text, ok = QInputDialog.getText(
            self,
            "Change fee",
            f"Fee quoted for {line.code} {line.description} ({line.place}), in dollars:",
            text=money_text(line.fee_cents),
        )
        if not ok:
            return
        try:
            cents = parse_money(text)
        except UserError as e:
            show_error(self, UserError(f"The fee was not changed: {e}"))
            return
        if cents != line.fee_cents:
            self.tab.change_fee(line.id, cents)

    def _ask_complete(self) -> None:
        line = self.selected_item()
        if line is None:
            return
        who = self.tab.ctx.actor.display_name if self.tab.ctx.actor else "you"
        answer = QMessageBox.question(
            self,
            "Complete procedure",
            f"Record {line.code} {line.description} ({line.place}) as done today, "
            f"{day_text(self.ctx.today())}, by {who}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.tab.complete_line(line.id)

    def _ask_remove(self) -> None:
        line = self.selected_item()
        if line is None:
            return
        reason, ok = QInputDialog.getText(
            self,
            "Remove planned procedure",
            f"Remove {line.code} ({line.place}) from the plan and the chart? Say why (e.g. entered in error):",
        )
        if ok:
            self.tab.remove_line(line.id, reason)

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.pressed.emit(self.plan.id)
        super().mousePressEvent(e)


# --- the tab ------------------------------------------------------------------------------------


class PlansTab(QWidget):
    """A patient's treatment plans. The plans are read (an audited viewing) when the tab is on
    screen: `set_patient` while hidden only marks them to be read when it is shown."""

    # the plan last clicked (None when there is none): new alternatives are offered beside it
    current_plan_changed = Signal(object)

    def __init__(self, ctx: Ctx, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        scopes = ctx.actor.scopes if ctx.actor else frozenset()
        self.can_edit = Scope.CHART_WRITE in scopes
        self.can_decide = self.can_edit or Scope.BILLING_WRITE in scopes
        self.can_edit_benefits = Scope.PATIENTS_WRITE in scopes
        self.patient_id: str | None = None
        self._view: PlansView | None = None
        self._stale = False
        self._busy = False
        self._load_seq = 0
        self._current: str | None = None
        self._selected: dict[str, str] = {}  # plan id -> selected line, kept across reloads
        self._cards: dict[str, PlanCard] = {}

        self.insurance = QLabel()
        self.insurance.setObjectName("insuranceLine")
        self.insurance.setWordWrap(True)
        self.insurance.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.benefits_button = QPushButton("Benefits…")
        self.benefits_button.setObjectName("editBenefits")
        self.benefits_button.clicked.connect(self.edit_benefits)
        self.new_plan_button = QPushButton("New plan…")
        self.new_plan_button.setObjectName("newPlan")
        self.new_plan_button.setToolTip("Start an empty plan, e.g. for a second course of treatment")
        self.new_plan_button.clicked.connect(self.ask_new_plan)
        self.new_alternative_button = QPushButton("New alternative…")
        self.new_alternative_button.setObjectName("newAlternative")
        self.new_alternative_button.clicked.connect(self.ask_new_alternative)
        top = QHBoxLayout()
        top.addWidget(self.insurance, 1)
        top.addWidget(self.benefits_button)
        top.addSpacing(12)
        top.addWidget(self.new_plan_button)
        top.addWidget(self.new_alternative_button)

        self.message = QLabel()
        self.message.setObjectName("plansMessage")
        self.message.setWordWrap(True)

        self.scroll = QScrollArea()
        self.scroll.setObjectName("plansScroll")
        self.scroll.setStyleSheet(CARD_STYLE)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.content, self.groups = self._new_content()
        self.scroll.setWidget(self.content)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.scroll, 1)
        bus.changes_applied.connect(self._on_changes)
        self._show()

    # --- public ----------------------------------------------------------------------------
    def set_patient(self, patient_id: str | None) -> None:
        """Show this patient's plans (None clears the tab); read now if the tab is on screen."""
        if patient_id == self.patient_id and patient_id is not None:
            return
        self.patient_id = patient_id
        self._view = None
        self._current = None
        self._selected.clear()
        self._load_seq += 1  # a reading still under way is for the previous patient
        self._busy = False
        self._stale = patient_id is not None
        self._show()
        self.current_plan_changed.emit(None)
        if self._stale and self.isVisible():
            self.reload()

    def reload(self) -> None:
        """Read the patient's plans again (each reading is audited)."""
        patient_id = self.patient_id
        if patient_id is None:
            return
        self._stale = False
        self._load_seq += 1
        seq = self._load_seq
        run_op(
            lambda: treatment_plans.list_plans(self.ctx, patient_id),
            lambda view: self._loaded(seq, view),
            lambda error: self._load_failed(seq, error),
        )

    def plans_view(self) -> PlansView | None:
        """The plans last read, or None."""
        return self._view

    def current_plan_id(self) -> str | None:
        """The plan last clicked, else the newest plan still open; New alternative… adds beside it."""
        return self._current

    def set_current_plan(self, plan_id: str | None) -> None:
        if plan_id == self._current:
            return
        self._current = plan_id
        for pid, card in self._cards.items():
            card.setProperty("current", pid == plan_id)
            card.style().unpolish(card)
            card.style().polish(card)
        self._update_top()
        self.current_plan_changed.emit(plan_id)

    def card(self, plan_id: str) -> PlanCard:
        return self._cards[plan_id]

    def cards(self) -> list[PlanCard]:
        """Every plan's card, in the order shown (groups top to bottom, options left to right)."""
        return list(self._cards.values())

    def card_rows(self) -> list[list[str]]:
        """The plan ids as laid out: one list per option group, left to right."""
        out: list[list[str]] = []
        for i in range(self.groups.count()):
            group = self.groups.itemAt(i).widget()
            if group is not None:
                out.append([c.plan.id for c in group.findChildren(PlanCard)])
        return out

    def insurance_text(self) -> str:
        return self.insurance.text()

    # --- actions (each one callable directly; the buttons ask first, then call these) ------
    def create_plan(self, name: str, alternative_to: str | None = None) -> None:
        patient_id = self.patient_id
        if patient_id is None:
            return

        def done(plan: PlanView) -> None:
            # the new plan is the one planned work is added to, and offered alternatives to, next
            self._current = plan.id
            self.current_plan_changed.emit(plan.id)
            kind = "Alternative" if alternative_to else "Plan"
            self._written(f"{kind} “{plan.name}” started. Add planned work to it from the Tooth chart.")

        self._write(
            lambda: treatment_plans.create_plan(self.ctx, patient_id, name, alternative_to=alternative_to), done
        )

    def set_plan_status(self, plan_id: str, status: str, reason: str = "") -> None:
        plan = self._plan(plan_id)
        if plan is None:
            return
        said = {"accepted": "accepted", "declined": "declined", "proposed": "reopened"}.get(status, status)

        def done(view: PlanView) -> None:
            self._written(f"“{view.name}” {said}.")

        self._write(lambda: treatment_plans.set_status(self.ctx, plan.id, plan.version, status, reason=reason), done)

    def move_line(self, item_id: str, phase: int, priority: int) -> None:
        found = self._line(item_id)
        if found is None:
            return
        _plan, line = found
        self._write(
            lambda: treatment_plans.move_item(self.ctx, line.id, line.version, phase=phase, priority=priority),
            lambda _r: self._written(""),
        )

    def change_fee(self, item_id: str, fee_cents: int) -> None:
        found = self._line(item_id)
        if found is None:
            return
        _plan, line = found
        self._write(
            lambda: treatment_plans.set_fee(self.ctx, line.entry_id, line.entry_version, fee_cents),
            lambda _r: self._written(f"{line.code} ({line.place}) now quoted at {format_money(fee_cents)}."),
        )

    def complete_line(self, item_id: str) -> None:
        """The line's procedure done today by the signed-in clinician."""
        found = self._line(item_id)
        if found is None:
            return
        _plan, line = found
        today = self.ctx.today()
        self._write(
            lambda: charting.complete_entry(self.ctx, line.entry_id, line.entry_version, on=today),
            lambda _r: self._written(f"{line.code} ({line.place}) recorded as done {day_text(today)}."),
        )

    def remove_line(self, item_id: str, reason: str) -> None:
        found = self._line(item_id)
        if found is None:
            return
        _plan, line = found
        self._write(
            lambda: charting.remove_entry(self.ctx, line.entry_id, line.entry_version, reason),
            lambda _r: self._written(f"{line.code} ({line.place}) removed."),
        )

    def apply_benefits(self, benefits: Benefits) -> None:
        """Save the benefits typed in the dialog (over the version this tab last read)."""
        patient_id, view = self.patient_id, self._view
        if patient_id is None or view is None:
            return
        version = view.benefits.version if view.benefits else None
        self._write(
            lambda: treatment_plans.set_benefits(self.ctx, patient_id, version, benefits),
            lambda _r: self._written("Insurance benefits saved; the estimates below use them."),
        )

    # --- asking first ----------------------------------------------------------------------
    def ask_new_plan(self) -> None:
        name, ok = QInputDialog.getText(self, "New treatment plan", "Name of the plan (e.g. 'Phase 2: crowns'):")
        if ok:
            self.create_plan(name)

    def ask_new_alternative(self) -> None:
        beside = self._plan(self._current) if self._current else None
        if beside is None:
            return
        name, ok = QInputDialog.getText(
            self,
            "New alternative",
            f"Another option beside “{beside.name}” for the patient to choose from.\n"
            "Name it (e.g. 'Option B: implant'):",
        )
        if ok:
            self.create_plan(name, alternative_to=beside.id)

    def ask_decline(self, plan_id: str) -> None:
        plan = self._plan(plan_id)
        if plan is None:
            return
        reason, ok = QInputDialog.getText(
            self, "Decline plan", f"Why did the patient decline “{plan.name}”? (optional, e.g. cost, wants to wait)"
        )
        if ok:
            self.set_plan_status(plan_id, "declined", reason)

    def edit_benefits(self) -> None:
        view = self._view
        if view is None or view.benefits is None:
            return
        bv = view.benefits
        dialog = BenefitsDialog(bv.carrier, bv.benefits if bv.version is not None else None, self)
        try:
            if dialog.exec() and dialog.value is not None:
                self.apply_benefits(dialog.value)
        finally:
            dialog.deleteLater()  # on this thread, not whenever a garbage collection finds it

    # --- internals -------------------------------------------------------------------------
    def remember_selection(self, plan_id: str, item_id: str) -> None:
        self._selected[plan_id] = item_id

    def _plan(self, plan_id: str | None) -> PlanView | None:
        if self._view is None or plan_id is None:
            return None
        return next((p for p in self._view.plans if p.id == plan_id), None)

    def _line(self, item_id: str) -> tuple[PlanView, PlanItemView] | None:
        for plan in self._view.plans if self._view else ():
            for line in plan.items:
                if line.id == item_id:
                    return plan, line
        return None

    def _write(self, call: Callable[[], Any], done: Callable[[Any], None]) -> None:
        if self._busy:
            return
        self._set_busy(True)
        run_op(call, done, self._write_failed, changes=CHANGES, origin=self)

    def _written(self, text: str) -> None:
        self._say(text, True)
        self.reload()

    def _write_failed(self, error: Exception) -> None:
        show_error(self, error)
        # someone else may have changed it: show it as it is now
        if self.patient_id is not None:
            self.reload()
        else:
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.content.setEnabled(not busy)
        self._update_top()

    def _loaded(self, seq: int, view: PlansView) -> None:
        if seq != self._load_seq or view.header.patient_id != self.patient_id:
            return  # another patient was opened, or another reading started, meanwhile
        self._view = view
        ids = [p.id for p in view.plans]
        if self._current not in ids:
            open_plans = [p.id for p in view.plans if p.status in OPEN]
            self._current = (open_plans or ids or [None])[-1]
            self.current_plan_changed.emit(self._current)
        self._busy = False
        self.content.setEnabled(True)
        self._show()

    def _load_failed(self, seq: int, error: Exception) -> None:
        if seq != self._load_seq:
            return
        self._set_busy(False)
        if isinstance(error, UserError):
            self._say(str(error), False)
        else:
            show_error(self, error)

    def _say(self, text: str, ok: bool) -> None:
        self.message.setStyleSheet(f"color: {'#1B5E20' if ok else '#B3261E'};")
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _update_top(self) -> None:
        view = self._view
        idle = view is not None and not self._busy
        has_insurance = view is not None and view.benefits is not None
        self.benefits_button.setEnabled(idle and self.can_edit_benefits and has_insurance)
        if not self.can_edit_benefits:
            self.benefits_button.setToolTip("Your role cannot change the patient's insurance.")
        elif view is not None and not has_insurance:
            self.benefits_button.setToolTip("Add the patient's insurance to their record first.")
        else:
            self.benefits_button.setToolTip("What the insurance pays this year: coverage, deductible, annual maximum")
        self.new_plan_button.setEnabled(idle and self.can_edit)
        current = self._plan(self._current)
        self.new_alternative_button.setEnabled(idle and self.can_edit and current is not None)
        if not self.can_edit:
            for b in (self.new_plan_button, self.new_alternative_button):
                b.setToolTip("Only clinicians start treatment plans.")
        elif current is not None:
            self.new_alternative_button.setToolTip(
                f"Another option beside “{current.name}” (click a plan to choose which)"
            )
        else:
            self.new_alternative_button.setToolTip("Click the plan to offer an alternative to first")

    @staticmethod
    def _new_content() -> tuple[QWidget, QVBoxLayout]:
        content = QWidget()
        content.setObjectName("plansContent")
        groups = QVBoxLayout(content)
        groups.setContentsMargins(0, 0, 6, 6)
        groups.setSpacing(18)
        return content, groups

    def _show(self) -> None:
        """Lay the plans out again from the last reading (or the empty state)."""
        view = self._view
        bar_h, bar_v = self.scroll.horizontalScrollBar().value(), self.scroll.verticalScrollBar().value()
        # built whole off screen, then swapped in: shown at once, never half rebuilt
        self.content, self.groups = self._new_content()
        self._cards = {}
        try:
            self._fill(view)
        finally:
            old = self.scroll.takeWidget()
            self.scroll.setWidget(self.content)
            if old is not None:
                # owned by Qt again and deleted on this thread once the event loop is back, never
                # by a garbage collection that may run on a worker thread
                old.hide()
                old.setParent(self)
                old.deleteLater()
        QTimer.singleShot(0, self, lambda: self._restore_scroll(bar_h, bar_v))

    def _fill(self, view: PlansView | None) -> None:
        if view is None:
            self.insurance.setText(
                "Open a patient to see their treatment plans." if self.patient_id is None else "Reading the plans…"
            )
            self._say("", True)
            self._update_top()
            return
        self.insurance.setText(insurance_text(view.benefits))
        estimated = view.benefits is None or view.benefits.version is not None
        if not view.plans:
            empty = QLabel(
                "No treatment plans yet. Planned work added on the Tooth chart starts one; "
                "“New plan…” starts an empty one."
            )
            empty.setObjectName("plansEmpty")
            empty.setWordWrap(True)
            empty.setStyleSheet(f"color: {GREY}; padding: 24px;")
            self.groups.addWidget(empty)
        groups: dict[str, list[PlanView]] = {}
        for plan in view.plans:
            groups.setdefault(plan.option_group, []).append(plan)
        for options in groups.values():
            self.groups.addWidget(self._group(options, estimated))
        self.groups.addStretch(1)
        self._update_top()
        for plan_id, item_id in list(self._selected.items()):
            card = self._cards.get(plan_id)
            if card is None or not card.has_line(item_id):
                del self._selected[plan_id]
            else:
                card.select_item(item_id)

    def _restore_scroll(self, h: int, v: int) -> None:
        self.scroll.horizontalScrollBar().setValue(h)
        self.scroll.verticalScrollBar().setValue(v)

    def _group(self, options: list[PlanView], estimated: bool) -> QWidget:
        group = QWidget()
        group.setObjectName("planGroup")
        column = QVBoxLayout(group)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(6)
        if len(options) > 1:
            chosen = next((p.name for p in options if p.status in ("accepted", "completed")), None)
            caption = QLabel(
                f"{len(options)} options for the same treatment — "
                + (f"the patient chose “{chosen}”" if chosen else "the patient chooses one")
            )
            caption.setObjectName("planGroupCaption")
            caption.setStyleSheet(f"color: {GREY}; font-weight: 600;")
            column.addWidget(caption)
        row = QHBoxLayout()
        row.setSpacing(12)
        for plan in options:
            card = PlanCard(self, plan, options, estimated=estimated, current=plan.id == self._current)
            card.pressed.connect(self.set_current_plan)
            self._cards[plan.id] = card
            row.addWidget(card, 1, Qt.AlignmentFlag.AlignTop)
        row.addStretch(0)
        column.addLayout(row)
        return group

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self.reload()

    def _on_changes(self, areas: frozenset[str], origin: object) -> None:
        # planned work added or completed on the Tooth chart, or the insurance changed on the record
        if origin is self or self.patient_id is None or not (areas & WATCHED):
            return
        self._stale = True
        if self.isVisible():
            self.reload()
