"""`chairside bench`'s GUI figure: loading and painting a busy day in the day view, offscreen."""

import os
import statistics
import time
from datetime import date, timedelta
from typing import Any

from app.services import schedule_lookup, scheduling
from app.services.context import Ctx

_app: Any = None  # kept for the life of the process: Qt must outlive every widget


def _busiest_day(ctx: Ctx, location_id: str, around: date) -> date:
    best, most = around, -1
    for offset in range(-7, 8):
        day = around + timedelta(days=offset)
        n = len(scheduling.day_book(ctx, location_id, day).appointments)
        if n > most:
            best, most = day, n
    return best


def day_view_figures(ctx: Ctx, runs: int = 20) -> dict[str, Any]:
    """Median and worst time to load a day (service) and paint it (1600 x 1200 offscreen)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from app.ui.schedule.day_view import DayView

    global _app
    _app = QApplication.instance() or QApplication([])
    locations = schedule_lookup.locations(ctx)
    if not locations:
        return {"day_view_error": "the clinic has no location"}
    location_id = locations[0].id
    day = _busiest_day(ctx, location_id, date.today())
    view = DayView()
    view.resize(1600, 1200)
    image = QImage(1600, 1200, QImage.Format.Format_ARGB32_Premultiplied)
    times, load_times = [], []
    book = None
    for _ in range(runs):
        t0 = time.perf_counter()
        book = scheduling.day_book(ctx, location_id, day)
        t1 = time.perf_counter()
        view.set_book(book, "operatory")
        view.render(image)
        t2 = time.perf_counter()
        times.append(t2 - t0)
        load_times.append(t1 - t0)
    del view  # destroyed now, while Qt is whole, not at interpreter exit
    assert book is not None
    return {
        "day_view_ms": round(statistics.median(times) * 1000, 3),
        "day_view_max_ms": round(max(times) * 1000, 3),
        "day_view_load_ms": round(statistics.median(load_times) * 1000, 3),
        "day_view_operatories": len(book.operatories),
        "day_view_appointments": len(book.appointments),
    }
