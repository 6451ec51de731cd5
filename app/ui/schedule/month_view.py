"""The month overview: each day's free capacity at a glance; double-click opens the day."""

import calendar
from datetime import date

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

HEADER = 28


class MonthView(QWidget):
    day_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("monthView")
        self.year, self.month = date.today().year, date.today().month
        self.capacity: dict[date, tuple[int, int]] = {}
        self.setMinimumHeight(480)

    def set_month(self, year: int, month: int, capacity: dict[date, tuple[int, int]]) -> None:
        self.year, self.month, self.capacity = year, month, capacity
        self.update()

    def _weeks(self) -> list[list[date]]:
        return calendar.Calendar(firstweekday=0).monthdatescalendar(self.year, self.month)

    def _cell(self) -> tuple[float, float]:
        return self.width() / 7, (self.height() - HEADER) / max(1, len(self._weeks()))

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#FFFFFF"))
        cw, ch = self._cell()
        bold = QFont(self.font())
        bold.setBold(True)
        p.setFont(bold)
        for i, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
            p.drawText(QRectF(i * cw, 0, cw, HEADER), Qt.AlignmentFlag.AlignCenter, name)
        for r, week in enumerate(self._weeks()):
            for c, day in enumerate(week):
                rect = QRectF(c * cw + 2, HEADER + r * ch + 2, cw - 4, ch - 4)
                free, booked = self.capacity.get(day, (0, 0))
                total = free
                share = booked / total if total else 0.0
                if day.month != self.month:
                    p.fillRect(rect, QColor("#F7F9FA"))
                elif total == 0:
                    p.fillRect(rect, QColor("#ECEFF1"))
                else:
                    # greener the more room is left, amber when nearly full
                    p.fillRect(
                        rect,
                        QColor("#E8F5E9") if share < 0.6 else QColor("#FFF8E1") if share < 0.9 else QColor("#FFEBEE"),
                    )
                p.setPen(QColor("#1565C0") if day == date.today() else QColor("#B0BEC5"))
                p.drawRect(rect)
                p.setFont(bold)
                p.setPen(QColor("#263238") if day.month == self.month else QColor("#B0BEC5"))
                p.drawText(
                    rect.adjusted(6, 4, -4, -4), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, str(day.day)
                )
                p.setFont(self.font())
                if day.month == self.month:
                    p.setPen(QColor("#37474F"))
                    text = "closed" if total == 0 else f"{max(total - booked, 0) / 60:.1f} h free\n{share:.0%} booked"
                    p.drawText(
                        rect.adjusted(6, 22, -4, -4), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, text
                    )

    def day_at(self, x: float, y: float) -> date | None:
        cw, ch = self._cell()
        r, c = int((y - HEADER) // ch), int(x // cw)
        weeks = self._weeks()
        if y < HEADER or not (0 <= r < len(weeks) and 0 <= c < 7):
            return None
        return weeks[r][c]

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        day = self.day_at(e.position().x(), e.position().y())
        if day is not None:
            self.day_chosen.emit(day)
