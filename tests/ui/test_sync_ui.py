"""Cloud sync on the desktop: the status bar, the conflicts list, and Admin → Cloud against a real service."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import AuditEvent, Patient, StaffUser, SyncConflict
from app.domain.permissions import Role
from app.services import sync, sync_rows
from app.services.context import Ctx
from app.services.sync_background import SyncState
from app.ui.ops import bus
from app.ui.shell.sync_status import SyncStatusWidget, local_time
from sync.server import migrate
from sync.server.config import Settings
from sync.server.db import make_engine
from sync.server.services import clinics
from tests.server.workstations import Served, enrolled_offline, free_port, register, serve, silent_cloud
from tests.ui.conftest import make_window, wait_ops

TODAY_10_42 = datetime.now().astimezone().replace(hour=10, minute=42)


@pytest.mark.parametrize(
    ("state", "text"),
    [
        (SyncState("local"), "Sync: local only"),
        (SyncState("synced", last_ok=TODAY_10_42), "Synced 10:42"),
        (SyncState("syncing", pending=3), "Syncing…"),
        (SyncState("pending", pending=3, last_ok=TODAY_10_42), "Pending 3"),
        (
            SyncState("offline", pending=3, retry_at=TODAY_10_42 + timedelta(minutes=3)),
            "Offline — retrying at 10:45 (3 waiting)",
        ),
        (SyncState("conflicts", conflicts=2), "Conflicts 2"),
        (
            SyncState("refused", message="This workstation's access was revoked by the clinic."),
            "Sync refused: This workstation's access was revoked by the clinic.",
        ),
        (SyncState("offline", pending=1, conflicts=2), "Offline (1 waiting) · Conflicts 2"),
    ],
)
def test_the_status_bar_says_each_sync_state_in_words(qtbot, state: SyncState, text: str) -> None:  # type: ignore[no-untyped-def]
    widget = SyncStatusWidget()
    qtbot.addWidget(widget)
    widget.show_state(state)
    assert widget.text() == text
    assert widget.button.text().endswith(text)  # after its mark: a shape as well as a colour
    if state.kind != "local":
        assert f"Changes waiting to be sent: {state.pending}" in widget.button.toolTip()


def test_the_status_bar_offers_the_conflicts_only_when_there_are_some(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = SyncStatusWidget()
    qtbot.addWidget(widget)
    asked: list[bool] = []
    widget.conflicts_requested.connect(lambda: asked.append(True))
    widget.show_state(SyncState("synced", last_ok=TODAY_10_42))
    qtbot.mouseClick(widget.button, Qt.MouseButton.LeftButton)
    widget.show_state(SyncState("conflicts", conflicts=1))
    qtbot.mouseClick(widget.button, Qt.MouseButton.LeftButton)
    assert asked == [True]


# --- the conflicts list ----------------------------------------------------------------------


def _patient_conflict(ctx: Ctx) -> tuple[str, str]:
    """A patient changed here and elsewhere: (patient id, this workstation's phone number)."""
    pid = register(ctx, "Uma", "Umber", mobile_phone="+12025550101")
    with ctx.runtime.engine.connect() as conn:
        theirs = sync_rows.read(conn, "patient", [pid])[pid]
    mine = {**theirs, "mobile_phone": "+12025550199", "updated_at": "2026-03-02T15:04:00.000000Z"}
    with ctx.runtime.sessions() as s:
        s.add(
            SyncConflict(
                table_name="patient",
                row_id=pid,
                reason="changed_on_both",
                message="This record was changed here and on another workstation; the other one's version is kept.",
                local_row=json.dumps(mine),
                server_row=json.dumps(theirs),
                detected_at=datetime.now(UTC),
            )
        )
        s.commit()
    return pid, mine["mobile_phone"]


def _add_overlap(ctx: Ctx, patient_id: str, provider_id: str) -> None:
    booking = {
        "id": "a1",
        "version": 3,
        "patient_id": patient_id,
        "provider_id": provider_id,
        "starts_at": "2026-03-02T14:00:00.000000Z",
    }
    with ctx.runtime.sessions() as s:
        s.add(
            SyncConflict(
                table_name="appointment",
                row_id="a1",
                reason="overlap",
                message="The time was taken on another workstation. It was moved to the pinboard to be rebooked.",
                local_row=json.dumps(booking),
                detected_at=datetime.now(UTC),
            )
        )
        s.commit()


def test_the_conflicts_dialog_shows_both_versions_and_keeps_this_workstations(qtbot, staff) -> None:  # type: ignore[no-untyped-def]
    admin = staff[Role.ADMINISTRATOR]
    pid, my_phone = _patient_conflict(admin)
    enrolled_offline(admin.runtime)
    window = make_window(qtbot, admin)
    assert window.sync_status.text() == "Conflicts 1"

    qtbot.mouseClick(window.sync_status.button, Qt.MouseButton.LeftButton)
    dialog = window._conflicts_dialog
    wait_ops(qtbot)
    listing = dialog.list
    assert dialog.isVisible()
    assert listing.model.rowCount() == 1 and listing.model.rows[0].what == "Patient details"
    with admin.runtime.sessions() as s:
        chart_no = s.get(Patient, pid).chart_no  # type: ignore[union-attr]
        listed = s.scalars(select(AuditEvent).where(AuditEvent.action == "sync.conflicts_listed")).all()
    assert listing.model.index(0, 1).data() == f"Uma Umber (chart {chart_no})"  # whose record it is
    assert listed  # patients' names were shown: audited
    fields = [tuple(listing.fields.item(r, c).text() for c in range(3)) for r in range(listing.fields.rowCount())]
    assert fields == [("Mobile phone", "+12025550199", "+12025550101")]  # the differing field only
    visible = [b.text() for b in listing.buttons.values() if b.isVisibleTo(listing)]
    assert visible == ["Keep the other workstation's", "Use this workstation's"]

    qtbot.mouseClick(listing.buttons["keep_mine"], Qt.MouseButton.LeftButton)
    wait_ops(qtbot)

    assert "done" in listing.outcome.text()
    with admin.runtime.sessions() as s:
        conflict = s.scalars(select(SyncConflict)).one()
        patient = s.get(Patient, pid)
        assert conflict.resolved_at is not None and conflict.resolution == "keep_mine"
        assert patient is not None and patient.mobile_phone == my_phone
    assert listing.model.rowCount() == 0 and listing.empty.isVisibleTo(listing)
    # no conflict left; this workstation's version waits for the next round with its other changes
    qtbot.waitUntil(lambda: window.sync_status.text() == f"Pending {sync.status(admin.runtime).pending}")


def test_a_hygienist_sees_an_appointment_conflict_but_is_told_they_cannot_settle_it(qtbot, staff) -> None:  # type: ignore[no-untyped-def]
    hygienist = staff[Role.HYGIENIST]
    pid = register(staff[Role.RECEPTIONIST], "Ivo", "Ivory")
    _add_overlap(hygienist, pid, hygienist.actor.user_id)
    window = make_window(qtbot, hygienist)
    window.show_conflicts()
    wait_ops(qtbot)
    listing = window._conflicts_dialog.list
    assert listing.hint.isVisibleTo(listing)
    assert "pinboard in the appointment book" in listing.hint.text()
    fields = {
        listing.fields.item(r, 0).text(): listing.fields.item(r, 1).text() for r in range(listing.fields.rowCount())
    }
    with hygienist.runtime.sessions() as s:
        me = s.get(StaffUser, hygienist.actor.user_id).display_name  # type: ignore[union-attr]
    assert set(fields) == {"Patient", "Provider", "Starts at"}  # readable names; id and version hidden
    assert fields["Provider"] == me and fields["Patient"].startswith("Ivo Ivory (chart ")  # names, not ids
    assert listing.model.index(0, 1).data().startswith("Ivo Ivory (chart ")
    assert local_time(datetime(2026, 3, 2, 14, tzinfo=UTC)) in listing.model.index(0, 1).data()
    assert [b.text() for b in listing.buttons.values() if b.isVisibleTo(listing)] == ["Dismiss"]

    qtbot.mouseClick(listing.buttons["dismiss"], Qt.MouseButton.LeftButton)
    wait_ops(qtbot)

    assert "does not allow" in listing.outcome.text()
    assert listing.model.rowCount() == 1  # still there for someone who may settle it
    assert sync.status(hygienist.runtime).conflicts == 1


# --- Admin → Cloud against a real cloud service ----------------------------------------------


@pytest.fixture
def cloud_service(tmp_path: Path) -> Iterator[tuple[Served, list[str]]]:
    """The cloud service on loopback over a SQLite file, with one empty clinic and two enrolment codes."""
    url = f"sqlite:///{tmp_path}/cloud.db"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        clinic_id = clinics.create_clinic(session, "Test Dental").id
        codes = [clinics.create_enrol_code(session, clinic_id) for _ in range(2)]
    engine.dispose()
    settings = Settings(database_url=url, enrol_rate_per_minute=10_000, backup_dir=tmp_path / "backups")
    with serve(settings) as served:
        yield served, codes


def _cloud_panel(qtbot, staff):  # type: ignore[no-untyped-def]
    window = make_window(qtbot, staff[Role.ADMINISTRATOR])
    window.sync_runner.start()  # as the app does once the window shows
    window.go_to("admin")
    page = window.admin
    page.tabs.setCurrentWidget(page.cloud)
    return window, page.cloud


def _connect(qtbot, panel, url: str, code: str) -> None:  # type: ignore[no-untyped-def]
    panel.address.setText(url)
    panel.code.setText(code)
    qtbot.mouseClick(panel.connect_button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)


def test_an_administrator_connects_the_workstation_and_it_syncs(qtbot, staff, cloud_service) -> None:  # type: ignore[no-untyped-def]
    served, (code, second_code) = cloud_service
    window, panel = _cloud_panel(qtbot, staff)
    try:
        assert window.sync_status.text() == "Sync: local only"
        assert panel.pages.currentWidget() is panel.connect_page

        _connect(qtbot, panel, f"http://127.0.0.1:{free_port()}", code)
        assert "could not be reached" in panel.message.text()
        _connect(qtbot, panel, served.url, "AAAA-BBBB-CCCC")
        assert "enrolment code is not valid" in panel.message.text()
        assert panel.pages.currentWidget() is panel.connect_page

        _connect(qtbot, panel, served.url, code)
        assert panel.message.text().startswith("Connected.") and "records sent" in panel.message.text()
        assert panel.pages.currentWidget() is panel.connected_page
        assert panel.shown["url"].text() == served.url
        qtbot.waitUntil(lambda: window.sync_status.text().startswith("Synced "), timeout=15_000)
        assert window.sync_runner.running
        qtbot.waitUntil(lambda: panel.shown["state"].text().startswith("Synced "))
        assert panel.shown["pending"].text() == "0"

        qtbot.mouseClick(panel.sync_button, Qt.MouseButton.LeftButton)
        wait_ops(qtbot)
        assert panel.message.text() == "Synced: 0 sent, 0 received."
        assert panel.shown["audit"].text() == "0"  # the audit trail went to the cloud too

        # revoked or token lost: enrolled again with a new code, over the same connection
        device = panel.shown["device"].text()
        qtbot.mouseClick(panel.reenrol_button, Qt.MouseButton.LeftButton)
        assert panel.pages.currentWidget() is panel.connect_page and panel.address.text() == served.url
        _connect(qtbot, panel, served.url, second_code)
        assert panel.message.text().startswith("Connected.")
        assert panel.pages.currentWidget() is panel.connected_page and panel.shown["device"].text() != device
    finally:
        window.sync_runner.stop()


def test_rows_pulled_from_other_workstations_tell_open_screens_to_reload(qtbot, staff, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    window, _panel = _cloud_panel(qtbot, staff)
    enrolled_offline(staff[Role.ADMINISTRATOR].runtime)
    monkeypatch.setattr(sync, "run_once", lambda _runtime: sync.SyncReport(pulled=3))
    with qtbot.waitSignal(bus.changes_applied) as by_hand:
        window.sync_runner.sync_now()  # "Sync now" with no background worker running
    with qtbot.waitSignal(bus.changes_applied) as in_background:
        window.sync_runner._new_worker().round()  # what the background worker runs
    for emitted in (by_hand, in_background):
        assert {"appointments", "patients", "chart"} <= emitted.args[0]


def test_signing_out_does_not_wait_for_a_round_stuck_on_the_network(qtbot, staff) -> None:  # type: ignore[no-untyped-def]
    from app.ui.app import show_main_window

    admin = staff[Role.ADMINISTRATOR]
    with silent_cloud(admin.runtime):  # a round hangs on the network
        window = show_main_window(admin.runtime, admin.actor)
        qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "_signing_out", True))
        worker = window.sync_runner._worker
        qtbot.waitUntil(lambda: window.sync_status.text() == "Syncing…")

        window.sign_out()

        assert not window.sync_runner.running
        assert worker._lock.locked()  # the round still hangs on the network: sign-out did not wait for it
    # the silent cloud is gone: the round ends on its own thread, and tells nobody
    qtbot.waitUntil(lambda: not worker._lock.locked(), timeout=10_000)
    wait_ops(qtbot)


def test_the_app_syncs_in_the_background_once_signed_in_and_stops_on_sign_out(qtbot, staff) -> None:  # type: ignore[no-untyped-def]
    from app.ui.app import show_main_window

    admin = staff[Role.ADMINISTRATOR]
    enrolled_offline(admin.runtime)  # its cloud is not answering
    window = show_main_window(admin.runtime, admin.actor)
    qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "_signing_out", True))
    assert window.sync_runner.running

    qtbot.waitUntil(lambda: window.sync_status.text().startswith("Offline — retrying at "), timeout=15_000)
    assert "could not be reached" in window.sync_status.button.toolTip()
    window.sign_out()
    assert not window.sync_runner.running
