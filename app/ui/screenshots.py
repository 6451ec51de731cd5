"""`make screenshots`: each screen of a demo clinic as a PNG in docs/screenshots/.

Run under Xvfb (real windows, real fonts); it builds its own throw-away demo clinic.
"""

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from app import bootstrap
from app.services import auth, demo, patients
from app.services.context import Ctx
from app.ui import ops
from app.ui.app import make_app
from app.ui.signin.dialogs import PassphraseDialog, SignInDialog

PASSWORD = "screenshot-password"


def settle(app: QApplication, ms: int = 250) -> None:
    """Let background operations finish and the window repaint."""
    for _ in range(50):
        pause(ms)
        if not ops.busy():
            return


def pause(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def save(widget: QWidget, out: Path, name: str) -> None:
    widget.grab().save(str(out / f"{name}.png"))
    sys.stdout.write(f"wrote {out / name}.png\n")


def schedule_shots(app: QApplication, window: QWidget, out: Path) -> None:
    """The appointment book in each view, and its dialogs, on the busiest nearby weekday."""
    from datetime import date, timedelta

    from app.ui.schedule.dialogs import BookingDialog, NextAvailableDialog

    window.go_to("schedule")  # type: ignore[attr-defined]
    page = window.schedule  # type: ignore[attr-defined]
    settle(app, 500)
    day = date.today()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    page.go_to_day(day)
    settle(app, 500)
    save(window, out, "12-schedule-day-by-chair")
    page.view.setCurrentIndex(1)
    settle(app, 500)
    save(window, out, "13-schedule-day-by-provider")
    page.view.setCurrentIndex(2)
    settle(app, 500)
    page.week_provider.setCurrentIndex(1)
    settle(app, 500)
    save(window, out, "14-schedule-week")
    page.view.setCurrentIndex(3)
    settle(app, 500)
    save(window, out, "15-schedule-month")
    page.view.setCurrentIndex(0)
    settle(app, 500)
    book = page.book
    booking = BookingDialog(
        page.ctx,
        location_id=book.location_id,
        tz=page.tz(),
        day=day,
        start=book.bounds.start + timedelta(hours=9),
        length=timedelta(minutes=30),
        provider_id=book.providers[0].id,
        operatory_id=book.operatories[0].id,
        providers=list(book.providers),
        operatories=list(book.operatories),
        types=page.types,
        parent=window,
    )
    booking.search.query.setText("smi")
    dialog_shot_on(app, booking, out, "16-book-appointment")
    finder = NextAvailableDialog(
        page.ctx,
        location_id=book.location_id,
        providers=list(book.providers),
        operatories=list(book.operatories),
        types=page.types,
        patient=("", "Example patient"),
        parent=window,
    )
    finder.mornings.setChecked(True)
    finder.not_days[4].setChecked(True)
    finder.find()
    dialog_shot_on(app, finder, out, "17-next-available")
    from app.ui.schedule.recall_dialog import RecallListDialog

    recalls = RecallListDialog(
        page.ctx, book.location_id, list(book.providers), list(book.operatories), page.types, window
    )
    recalls.resize(980, 620)
    dialog_shot_on(app, recalls, out, "19-recall-list")


def _chart_patient(runtime) -> str:  # type: ignore[no-untyped-def]
    """A demo patient whose chart shows the most: two perio exams, plans, notes, many entries."""
    from sqlalchemy import func, select

    from app.db.models import ChartEntry, ClinicalNote, PerioExam, TreatmentPlan

    with runtime.sessions() as s:
        exams = select(PerioExam.patient_id).group_by(PerioExam.patient_id).having(func.count() >= 2)
        notes = select(ClinicalNote.patient_id)
        plans = select(TreatmentPlan.patient_id).where(TreatmentPlan.status.in_(("proposed", "accepted")))
        best = s.scalar(
            select(ChartEntry.patient_id)
            .where(ChartEntry.patient_id.in_(exams), ChartEntry.patient_id.in_(notes), ChartEntry.patient_id.in_(plans))
            .group_by(ChartEntry.patient_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        return best or s.scalar(
            select(ChartEntry.patient_id).group_by(ChartEntry.patient_id).order_by(func.count().desc()).limit(1)
        )


def chart_shots(app: QApplication, window: QWidget, out: Path) -> None:
    """The clinical chart of a well-documented demo patient: each tab as a dentist sees it."""
    patient_id = _chart_patient(window.ctx.runtime)  # type: ignore[attr-defined]
    window.open_chart(patient_id)  # type: ignore[attr-defined]
    page = window.chart  # type: ignore[attr-defined]
    settle(app, 500)
    save(window, out, "20-tooth-chart")
    page.tabs.setCurrentWidget(page.plans_tab)
    settle(app, 500)
    save(window, out, "21-treatment-plans")
    page.tabs.setCurrentWidget(page.perio_tab)
    settle(app, 500)
    save(window, out, "22-perio-comparison")
    page.perio_tab.suggest_staging()
    settle(app, 400)
    save(window, out, "23-perio-staging")
    page.tabs.setCurrentWidget(page.notes_tab)
    settle(app, 500)
    save(window, out, "24-clinical-notes")
    page.tabs.setCurrentWidget(page.tooth_tab)


def _pretend_enrolled(runtime) -> None:  # type: ignore[no-untyped-def]
    """A demo clinic that looks connected and synced, with one conflict (no cloud service runs here)."""
    import json
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from app.db.models import Appointment, SyncConflict
    from app.services import cloud, sync, sync_rows

    cloud.write_settings(
        runtime,
        {
            cloud.URL: "https://cloud.riverside-dental.example",
            cloud.DEVICE_ID: "5f0c2a9e-8d4b-4c1e-9a27-3b6f1d2e7c40",
            cloud.CLOUD_CLINIC: "demo",
            cloud.TOKEN: "demo",
            sync.LAST_OK: sync_rows.stamp(datetime.now(UTC) - timedelta(minutes=2)),
        },
    )
    now = sync_rows.stamp(datetime.now(UTC))
    with runtime.sessions() as s:
        # the demo's history counts as sent: a synced workstation
        s.connection().exec_driver_sql("UPDATE change_log SET pushed_at = ?", (now,))
        booking = s.scalar(select(Appointment.id).where(Appointment.starts_at > datetime.now(UTC)).limit(1))
        theirs = sync_rows.read(s.connection(), "appointment", [booking])[booking]
        start = datetime.fromisoformat(theirs["starts_at"])
        mine = {
            **theirs,
            "starts_at": sync_rows.stamp(start + timedelta(hours=1)),
            "ends_at": sync_rows.stamp(datetime.fromisoformat(theirs["ends_at"]) + timedelta(hours=1)),
            "note": "Asked for the afternoon",
        }
        s.add(
            SyncConflict(
                table_name="appointment",
                row_id=booking,
                reason="changed_on_both",
                message="This record was changed here and on another workstation; "
                "the other workstation's version is kept.",
                local_row=json.dumps(mine),
                server_row=json.dumps(theirs),
                detected_at=datetime.now(UTC) - timedelta(minutes=2),
            )
        )
        s.commit()


def cloud_shots(app: QApplication, admin_window: QWidget, out: Path) -> None:
    """Admin → Cloud before and after connecting, and the status bar's words for each sync state."""
    from datetime import datetime, timedelta

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QVBoxLayout

    from app.services.sync_background import SyncState
    from app.ui.shell.sync_status import SyncStatusWidget

    admin_page = admin_window.admin  # type: ignore[attr-defined]
    panel = admin_page.cloud  # type: ignore[union-attr]
    admin_page.tabs.setCurrentWidget(panel)  # type: ignore[union-attr]
    panel.address.setText("https://cloud.riverside-dental.example")
    panel.code.setText("7KQ2-M9XD-4TPA")
    settle(app)
    save(admin_window, out, "25-admin-cloud-connect")
    _pretend_enrolled(admin_window.ctx.runtime)  # type: ignore[attr-defined]
    panel.show_connection()
    panel.conflicts.refresh()
    settle(app, 400)
    save(admin_window, out, "26-admin-cloud-connected")

    now = datetime.now().astimezone()
    states = [
        SyncState("local"),
        SyncState("syncing"),
        SyncState("synced", last_ok=now),
        SyncState("pending", pending=3, last_ok=now),
        SyncState("offline", pending=3, last_ok=now, retry_at=now + timedelta(minutes=3)),
        SyncState("conflicts", conflicts=2, last_ok=now),
        SyncState("refused", message="This workstation's access was revoked by the clinic; ask your administrator."),
    ]
    board = QWidget()
    board.setStyleSheet("background: white;")
    column = QVBoxLayout(board)
    for state in states:
        widget = SyncStatusWidget()
        widget.show_state(state)
        column.addWidget(widget, 0, Qt.AlignmentFlag.AlignLeft)
    dialog_shot_on(app, board, out, "27-sync-status-states")


def backups_shot(app: QApplication, admin_window: QWidget, out: Path, scratch: Path) -> None:
    """Admin → Backups with a folder chosen and a backup just made to it."""
    admin_page = admin_window.admin  # type: ignore[attr-defined]
    panel = admin_page.backups  # type: ignore[union-attr]
    admin_page.tabs.setCurrentWidget(panel)  # type: ignore[union-attr]
    nas = scratch / "nas-backups"
    nas.mkdir()
    panel.here.setChecked(True)
    panel.folder.setText(str(nas))
    panel.save()
    settle(app, 800)
    panel.back_up_now()
    for _ in range(100):  # the backup runs off the GUI thread
        settle(app, 200)
        if panel.now_button.isEnabled():
            break
    save(admin_window, out, "28-admin-backups")


def dialog_shot_on(app: QApplication, dialog: QWidget, out: Path, name: str) -> None:
    dialog.show()
    settle(app, 500)
    save(dialog, out, name)
    dialog.close()


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    app = make_app()
    data_dir = Path(tempfile.mkdtemp(prefix="chairside-shots-")) / "clinic"
    runtime = bootstrap.create_clinic(
        data_dir,
        clinic_name="Riverside Dental (demo)",
        passphrase="screenshot recovery passphrase",
        admin_password=PASSWORD,
    )
    demo.seed(runtime, patients=600, staff_password=PASSWORD)

    def dialog_shot(dialog: QWidget, name: str, prepare: Callable[[], None] = lambda: None) -> None:
        dialog.show()
        prepare()
        settle(app)
        save(dialog, out, name)
        dialog.close()

    signin = SignInDialog(runtime.info.name, lambda u, p: None)
    dialog_shot(signin, "01-sign-in", lambda: signin.username.setText("reception.lee"))
    dialog_shot(PassphraseDialog(str(data_dir), lambda p: None), "02-recovery-passphrase")

    from app.ui.shell.main_window import MainWindow

    dentist = Ctx(runtime, auth.sign_in(runtime, "dr.patel", PASSWORD))
    window = MainWindow(dentist)
    window.resize(1440, 900)
    window.show()
    page = window.patients
    # a patient with alerts, insurance and a family shows every part of the record
    candidates = patients.search(dentist, "a", limit=400)
    chosen = next(p for p in candidates if p.has_alerts)
    for p in candidates:
        record = patients.open_record(dentist, p.id)
        if record.data.alerts and record.data.insurance and record.family:
            chosen = p
            break
    page.search.query.setText(chosen.last_name)
    settle(app, 400)
    page.open_patient(chosen.id)
    settle(app, 400)
    save(window, out, "03-patients")
    page.form.tabs.setCurrentIndex(1)
    settle(app)
    save(window, out, "04-family-and-insurance")
    page.form.tabs.setCurrentIndex(2)
    settle(app)
    save(window, out, "05-medical-alerts")

    page.new_patient()
    page.form.fields["first_name"].setText("Jordan")
    page.form.fields["date_of_birth"].setText("02/30/2031")
    page.form.fields["mobile_phone"].setText("555-12")
    page.form.fields["email"].setText("jordan@")
    page.save()
    settle(app, 400)
    save(window, out, "06-validation")

    window.go_to("imaging")
    settle(app)
    save(window, out, "07-not-yet-available")
    chart_shots(app, window, out)
    schedule_shots(app, window, out)
    window.lock("manual")
    settle(app)
    save(window, out, "08-lock-screen")
    window._signing_out = True
    window.close()

    admin = Ctx(runtime, auth.sign_in(runtime, "admin", PASSWORD))
    admin_window = MainWindow(admin)
    admin_window.resize(1440, 900)
    admin_window.show()
    admin_window.go_to("admin")
    settle(app, 400)
    save(admin_window, out, "09-admin-staff")
    admin_page = admin_window.admin  # type: ignore[attr-defined]
    admin_page.tabs.setCurrentWidget(admin_page.security)  # type: ignore[attr-defined]
    settle(app)
    save(admin_window, out, "10-admin-security")
    admin_page.tabs.setCurrentWidget(admin_page.schedule_setup)  # type: ignore[attr-defined]
    settle(app, 400)
    save(admin_window, out, "18-admin-schedule-setup")
    admin_page.tabs.setCurrentWidget(admin_page.audit)  # type: ignore[attr-defined]
    admin_page.audit.refresh()  # type: ignore[attr-defined]
    settle(app, 400)
    save(admin_window, out, "11-admin-audit-log")
    cloud_shots(app, admin_window, out)
    backups_shot(app, admin_window, out, data_dir.parent)
    admin_window._signing_out = True
    admin_window.close()
    runtime.close()
    # leave without interpreter teardown: Qt objects destroyed out of order there can crash
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
