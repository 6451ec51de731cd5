"""The patient's insurance benefits for this year, typed from the carrier's breakdown.

The dialog only builds a Benefits value (`benefits()`); saving it is the Treatment plans
tab's job, off the GUI thread like every other service call.
"""

from PySide6.QtWidgets import (
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.domain.catalogue import Category, format_money, parse_money
from app.domain.errors import FieldError, UserError, ValidationError
from app.domain.estimates import Benefits, check_benefits
from app.ui.signin.dialogs import _CheckedDialog

# what many plans pay: checkups in full, fillings and root canals 80 %, crowns and implants half
TYPICAL_COVERAGE: dict[Category, int] = {
    Category.DIAGNOSTIC: 100,
    Category.PREVENTIVE: 100,
    Category.RESTORATIVE: 80,
    Category.ENDODONTICS: 80,
    Category.PERIODONTICS: 80,
    Category.ORAL_SURGERY: 80,
    Category.PROSTHODONTICS: 50,
    Category.IMPLANTS: 50,
    Category.ORTHODONTICS: 50,
    Category.ADJUNCTIVE: 0,
}

# Benefits field -> label; an empty field means $0.00
MONEY_FIELDS: dict[str, str] = {
    "deductible_cents": "Deductible",
    "deductible_met_cents": "Deductible met",
    "annual_max_cents": "Annual maximum",
    "max_used_cents": "Used this year",
}
MONEY_HINTS = {
    "deductible_cents": "per benefit year",
    "deductible_met_cents": "already paid towards it this year",
    "annual_max_cents": "0 = no annual maximum",
    "max_used_cents": "benefits the carrier has paid this year",
}


def money_text(cents: int) -> str:
    """1234500 -> '12,345.00': what a money field shows (parse_money reads it back exactly)."""
    return format_money(cents).removeprefix("$")


class BenefitsDialog(_CheckedDialog):
    """Coverage per category and this year's deductible and maximum; OK checks every field."""

    def __init__(self, carrier: str, current: Benefits | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Insurance benefits", parent)
        self.setMinimumWidth(560)
        self.header.setText(
            f"<b>{carrier or 'Primary insurance'}</b> — what the plan pays this benefit year, "
            "as the carrier's breakdown states it."
        )
        self.value: Benefits | None = None

        coverage = QGroupBox("Coverage")
        grid = QGridLayout(coverage)
        self.coverage: dict[Category, QSpinBox] = {}
        for i, category in enumerate(Category):
            spin = QSpinBox()
            spin.setObjectName(f"coverage_{category.value}")
            spin.setRange(0, 100)
            spin.setSuffix(" %")
            spin.setAccessibleName(f"{category.label} coverage")
            row, col = divmod(i, 2)
            grid.addWidget(QLabel(category.label), row, col * 2)
            grid.addWidget(spin, row, col * 2 + 1)
            self.coverage[category] = spin
        self.typical_button = QPushButton("Typical percentages")
        self.typical_button.setObjectName("typicalCoverage")
        self.typical_button.setToolTip(
            "Diagnostic and preventive 100 %; restorative, endodontics, periodontics and oral surgery 80 %; "
            "prosthodontics, implants and orthodontics 50 %; adjunctive 0 %"
        )
        self.typical_button.clicked.connect(self.fill_typical)
        typical_row = QHBoxLayout()
        typical_row.addStretch()
        typical_row.addWidget(self.typical_button)
        grid.addLayout(typical_row, (len(Category) + 1) // 2, 0, 1, 4)

        self.money: dict[str, QLineEdit] = {}
        self.field_messages: dict[str, QLabel] = {}
        for name, label in MONEY_FIELDS.items():
            field = QLineEdit()
            field.setObjectName(name)
            field.setPlaceholderText("0.00")
            field.setToolTip(MONEY_HINTS[name])
            message = QLabel()
            message.setObjectName(f"{name}_message")
            message.setStyleSheet("color: #B3261E;")
            message.setWordWrap(True)
            message.hide()
            column = QVBoxLayout()
            column.setSpacing(2)
            row = QHBoxLayout()
            row.addWidget(field)
            hint = QLabel(MONEY_HINTS[name])
            hint.setStyleSheet("color: #5F6B73;")
            row.addWidget(hint, 1)
            column.addLayout(row)
            column.addWidget(message)
            self.form.addRow(f"{label} ($)", column)
            self.money[name] = field
            self.field_messages[name] = message

        self.layout().insertWidget(1, coverage)  # type: ignore[union-attr]
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Save")
        self.load(current)
        self.check = self._check

    def load(self, benefits: Benefits | None) -> None:
        """Show these benefits (all zero when none are recorded yet)."""
        b = benefits or Benefits({}, 0, 0, 0, 0)
        for category, spin in self.coverage.items():
            spin.setValue(int(b.coverage_pct.get(category.value, 0)))
        for name, field in self.money.items():
            cents = getattr(b, name)
            field.setText(money_text(cents) if cents else "")
        self.show_errors({})

    def fill_typical(self) -> None:
        for category, spin in self.coverage.items():
            spin.setValue(TYPICAL_COVERAGE[category])

    def show_errors(self, messages: dict[str, str]) -> None:
        """Each field's message under it; fields not named are cleared."""
        for name, label in self.field_messages.items():
            text = messages.get(name, "")
            label.setText(text)
            label.setVisible(bool(text))
            self.money[name].setStyleSheet("border: 1px solid #B3261E;" if text else "")

    def benefits(self) -> Benefits:
        """What the form holds, or ValidationError naming every field that is wrong (all are marked)."""
        errors: list[FieldError] = []
        cents: dict[str, int] = {}
        for name, label in MONEY_FIELDS.items():
            text = self.money[name].text().strip()
            try:
                cents[name] = parse_money(text) if text else 0
            except UserError as e:
                errors.append(FieldError(name, f"{label}: {e}"))
        result: Benefits | None = None
        if not errors:
            result = Benefits(
                {c.value: spin.value() for c, spin in self.coverage.items()},
                cents["deductible_cents"],
                cents["deductible_met_cents"],
                cents["annual_max_cents"],
                cents["max_used_cents"],
            )
            try:
                check_benefits(result)
            except ValidationError as e:
                errors.extend(e.errors)
        self.show_errors({e.field: e.message for e in errors})
        if errors:
            raise ValidationError(errors)
        assert result is not None
        return result

    def _check(self) -> None:
        try:
            self.value = self.benefits()
        except ValidationError as e:
            n = len(e.errors)
            raise UserError(
                f"Nothing was saved: correct the {'field' if n == 1 else f'{n} fields'} marked in red."
            ) from e
        self.message.hide()
