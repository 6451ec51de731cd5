"""The printed day sheet: one line per appointment, grouped by chair or provider."""

from zoneinfo import ZoneInfo

from PySide6.QtCore import QMarginsF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPagedPaintDevice, QPageLayout, QPageSize, QPainter, QPdfWriter

from app.domain.dates import format_date
from app.services.scheduling import AppointmentView, DayBook


def sheet_rows(book: DayBook, by: str) -> list[tuple[str, list[AppointmentView]]]:
    """(column name, its appointments in time order) for each chair or provider with bookings."""
    columns = book.operatories if by == "operatory" else book.providers
    rows = []
    for col in columns:
        mine = [a for a in book.appointments if (a.operatory_id if by == "operatory" else a.provider_id) == col.id]
        if mine:
            rows.append((col.name, sorted(mine, key=lambda a: a.starts_at)))  # type: ignore[arg-type, return-value]
    return rows


def paint_day_sheet(device: QPagedPaintDevice, book: DayBook, by: str, date_order: str) -> None:
    """Draw the sheet on a PDF writer or a printer, breaking pages as needed."""
    device.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(12, 12, 12, 12),
            QPageLayout.Unit.Millimeter,
        )
    )
    tz = ZoneInfo(book.time_zone)
    p = QPainter(device)
    try:
        page = p.viewport()
        scale = page.width() / 800  # lay out in a 800-unit-wide page whatever the resolution
        p.scale(scale, scale)
        height = page.height() / scale
        title, body, bold = (
            QFont("Sans Serif", 14, QFont.Weight.Bold),
            QFont("Sans Serif", 8),
            QFont("Sans Serif", 9, QFont.Weight.Bold),
        )
        y = 0.0

        def header() -> float:
            p.setFont(title)
            p.setPen(QColor("#000000"))
            p.drawText(
                QRectF(0, 0, 800, 30),
                Qt.AlignmentFlag.AlignLeft,
                f"{book.location_name} — day sheet {format_date(book.day, date_order)}",
            )
            p.setFont(body)
            p.drawText(
                QRectF(0, 30, 800, 16),
                Qt.AlignmentFlag.AlignLeft,
                f"By {'chair' if by == 'operatory' else 'provider'} · {len(book.appointments)} appointments · "
                "contains patient information: keep it confidential",
            )
            return 56.0

        y = header()
        for name, items in sheet_rows(book, by):
            if y + 40 > height:
                device.newPage()
                y = header()
            p.setFont(bold)
            p.fillRect(QRectF(0, y, 800, 18), QColor("#ECEFF1"))
            p.drawText(QRectF(4, y, 792, 18), Qt.AlignmentFlag.AlignVCenter, name)
            y += 20
            p.setFont(body)
            for a in items:
                if y + 16 > height:
                    device.newPage()
                    y = header()
                assert a.starts_at and a.ends_at
                cells = (
                    f"{a.starts_at.astimezone(tz):%H:%M}–{a.ends_at.astimezone(tz):%H:%M}",
                    ("⚠ " if a.has_alerts else "") + a.patient_name,
                    a.type_name,
                    a.provider_name if by == "operatory" else a.operatory_name,
                    a.status.value.replace("_", "-"),
                )
                x = 4.0
                for cell, width in zip(cells, (80, 250, 170, 190, 100), strict=True):
                    p.drawText(QRectF(x, y, width - 6, 15), Qt.AlignmentFlag.AlignVCenter, cell)
                    x += width
                p.setPen(QColor("#CFD8DC"))
                p.drawLine(0, int(y + 15), 800, int(y + 15))
                p.setPen(QColor("#000000"))
                y += 16
            y += 8
    finally:
        p.end()


def write_day_sheet_pdf(path: str, book: DayBook, by: str, date_order: str) -> None:
    writer = QPdfWriter(path)
    writer.setTitle(f"Day sheet {book.day.isoformat()}")
    writer.setResolution(150)
    paint_day_sheet(writer, book, by, date_order)
