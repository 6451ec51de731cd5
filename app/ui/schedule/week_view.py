"""The week view: a column per day, each provider in a lane of their own colour."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from app.services.scheduling import AppointmentView, Resource

GUTTER, HEADER, HOUR = 52, 34, 48


class WeekView(QWidget):
    day_chosen = Signal(object)  # date

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("weekView")
        self.first: date = date.today()
        self.views: list[AppointmentView] = []
        self.providers: list[Resource] = []
        self.tz = ZoneInfo("UTC")
        self.open_h, self.close_h = 7, 19
        self.setMinimumHeight(HEADER + (self.close_h - self.open_h) * HOUR)

    def set_week(self, first: date, views: list[AppointmentView], providers: list[Resource], tz: ZoneInfo) -> None:
        self.first, self.views, self.tz = first, views, tz
        busy = {v.provider_id for v in views}
        self.providers = [p for p in providers if p.id in busy] or providers
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(GUTTER + 7 * 150, HEADER + (self.close_h - self.open_h) * HOUR)

    def _day_width(self) -> float:
        return (self.width() - GUTTER) / 7

    def _y(self, local: datetime) -> float:
        return HEADER + (local.hour - self.open_h + local.minute / 60) * HOUR

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#FFFFFF"))
        w = self._day_width()
        for h in range(self.open_h, self.close_h + 1):
            y = HEADER + (h - self.open_h) * HOUR
            p.setPen(QColor("#E0E6EA"))
            p.drawLine(GUTTER, int(y), self.width(), int(y))
            p.setPen(QColor("#37474F"))
            p.drawText(QRectF(0, y - 2, GUTTER - 6, 16), Qt.AlignmentFlag.AlignRight, f"{h:02d}:00")
        bold = QFont(self.font())
        bold.setBold(True)
        lanes = {pid.id: i for i, pid in enumerate(self.providers)}
        lane_w = w / max(1, len(self.providers))
        for d in range(7):
            day = self.first + timedelta(days=d)
            x = GUTTER + d * w
            p.setPen(QColor("#CFD8DC"))
            p.drawLine(int(x), HEADER, int(x), self.height())
            p.setFont(bold)
            p.setPen(QColor("#1565C0") if day == date.today() else QColor("#263238"))
            p.drawText(QRectF(x, 0, w, HEADER), Qt.AlignmentFlag.AlignCenter, f"{day:%a} {day.day} {day:%b}")
        p.setFont(self.font())
        for v in self.views:
            if v.starts_at is None or v.ends_at is None:
                continue
            start, end = v.starts_at.astimezone(self.tz), v.ends_at.astimezone(self.tz)
            d = (start.date() - self.first).days
            if not 0 <= d < 7:
                continue
            x = GUTTER + d * w + lanes.get(v.provider_id, 0) * lane_w
            rect = QRectF(x + 1, self._y(start), lane_w - 2, max(self._y(end) - self._y(start) - 1, 4))
            colour = QColor(v.provider_colour)
            fill = QColor(colour)
            fill.setAlpha(120)
            p.setPen(QPen(colour.darker(130)))
            p.setBrush(fill)
            p.drawRect(rect)
            if rect.height() > 14 and lane_w > 40:
                p.setPen(QColor("#B3261E") if v.has_alerts else QColor("#1B262C"))
                p.drawText(rect.adjusted(2, 0, -1, 0), Qt.AlignmentFlag.AlignTop, v.patient_name.split(",")[0])

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        d = int((e.position().x() - GUTTER) // self._day_width())
        if 0 <= d < 7:
            self.day_chosen.emit(self.first + timedelta(days=d))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())
