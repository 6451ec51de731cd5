"""`chairside bench`'s chart figures: painting a full mouth, a perio keystroke, saving an exam."""

import os
import statistics
import time
from typing import Any

from sqlalchemy import func, select

from app.db.models import Patient, StaffUser
from app.domain.perio import SITES, PerioExam
from app.domain.permissions import Role
from app.services import perio
from app.services.context import Actor, Ctx

RUNS = 40
# a heavily restored mouth: about fifty entries of every kind the chart draws
_FULL_MOUTH = (
    [("18", "", "missing", "condition"), ("28", "", "missing", "condition"), ("38", "", "impacted", "condition")]
    + [("48", "", "unerupted", "condition"), ("36", "", "implant", "existing"), ("36", "", "crown", "existing")]
    + [(t, "MOD", "filling", "existing") for t in ("17", "16", "15", "26", "27", "37", "47", "46")]
    + [(t, "O", "sealant", "existing") for t in ("14", "24", "34", "44")]
    + [(t, "", "crown", "existing") for t in ("11", "21", "45")]
    + [(t, "", "root_canal", "existing") for t in ("11", "45", "25")]
    + [("24", "", "abutment", "planned"), ("25", "", "pontic", "planned"), ("26", "", "abutment", "planned")]
    + [(t, "DO", "caries", "condition") for t in ("35", "44", "14", "13")]
    + [(t, "MO", "filling", "planned") for t in ("35", "44", "34", "33")]
    + [(t, "", "crown", "completed") for t in ("46", "47", "16")]
    + [(t, "B", "veneer", "planned") for t in ("12", "22")]
    + [("31", "", "fracture", "condition"), ("41", "", "watch", "condition"), ("42", "", "", "referred")]
    + [(t, "", "extraction", "planned") for t in ("38", "48")]
    + [(t, "OB", "filling", "completed") for t in ("15", "25", "43", "33")]
    + [(t, "L", "caries", "condition") for t in ("32", "42", "21")]
)


def _app() -> Any:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def _chart_render() -> dict[str, Any]:
    from PySide6.QtGui import QImage

    from app.ui.chart.odontogram import ChartMark, Odontogram

    marks = [ChartMark(t, s, d, st, d) for t, s, d, st in _FULL_MOUTH]
    chart = Odontogram()
    chart.resize(1400, 520)
    image = QImage(1400, 520, QImage.Format.Format_ARGB32_Premultiplied)
    times = []
    for n in range(RUNS):
        t0 = time.perf_counter()
        chart.set_marks(marks if n % 2 else marks[:-1])  # new marks each run: nothing cached
        chart.render(image)
        times.append(time.perf_counter() - t0)
    del chart
    return {
        "chart_render_ms": round(statistics.median(times) * 1000, 3),
        "chart_render_max_ms": round(max(times) * 1000, 3),
        "chart_render_entries": len(marks),
    }


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def _perio_keystrokes() -> dict[str, Any]:
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    from app.ui.chart.perio_chart import PerioChart

    widget = PerioChart()
    widget.resize(1500, 760)
    widget.set_exam(PerioExam.blank(missing=("18", "28")))
    widget.show()
    QApplication.processEvents()
    times = []
    for n in range(180):  # a whole mouth's facial and lingual sites, as typed
        key = Qt.Key(Qt.Key.Key_1 + n % 5)
        event = QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier, str(1 + n % 5))
        t0 = time.perf_counter()
        QApplication.sendEvent(widget, event)
        QApplication.processEvents()  # and the paint of the region the keystroke invalidated
        times.append(time.perf_counter() - t0)
    widget.hide()
    del widget
    return {
        "perio_keystroke_ms": round(_p95(times) * 1000, 3),
        "perio_keystroke_p50_ms": round(statistics.median(times) * 1000, 3),
    }


def _perio_save(ctx: Ctx) -> dict[str, Any]:
    """Save a full exam (every site of 28 teeth) repeatedly, as autosave does while probing."""
    with ctx.runtime.sessions() as s:
        hygienist = s.scalar(select(StaffUser.username).where(StaffUser.role == Role.HYGIENIST, StaffUser.active))
        patient_id = s.scalar(select(Patient.id).where(Patient.deleted_at.is_(None)).order_by(func.random()).limit(1))
    if hygienist is None or patient_id is None:
        return {"perio_exam_save_error": "the clinic has no hygienist or no patient"}
    clinician = Ctx(ctx.runtime, ctx.actor)
    if ctx.actor and ctx.actor.role != Role.HYGIENIST:
        # the bench signs in as admin, who may not chart; a demo hygienist (whose password
        # nobody knows) acts instead, in this process only
        with ctx.runtime.sessions() as s:
            u = s.scalar(select(StaffUser).where(StaffUser.username == hygienist))
            assert u is not None
            clinician = Ctx(ctx.runtime, Actor(u.id, u.username, u.display_name, Role.HYGIENIST))
    for row in perio.list_exams(clinician, patient_id):
        if row.status == "in_progress":
            perio.discard_exam(clinician, row.id, row.version)
    record = perio.start_exam(clinician, patient_id)
    exam = record.exam
    version = record.version
    times = []
    present = exam.present_teeth()
    for n in range(RUNS):
        tooth = present[n % len(present)]
        for i in range(len(SITES)):
            exam.set_depth(tooth, i, 2 + (n + i) % 4)
        t0 = time.perf_counter()
        version = perio.save_exam(clinician, record.id, version, exam)
        times.append(time.perf_counter() - t0)
    perio.discard_exam(clinician, record.id, version)
    return {
        "perio_exam_save_ms": round(statistics.median(times) * 1000, 3),
        "perio_exam_save_p95_ms": round(_p95(times) * 1000, 3),
    }


def chart_figures(ctx: Ctx) -> dict[str, Any]:
    _app()
    figures = _chart_render()
    figures.update(_perio_keystrokes())
    figures.update(_perio_save(ctx))
    figures.update({"chart_render_budget_ms": 30, "perio_keystroke_budget_ms": 5, "perio_exam_save_budget_ms": 10})
    return figures
