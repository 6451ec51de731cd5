"""Registering, editing, finding and archiving patients through the Patients screen."""

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from app.db.models import Patient
from app.domain.permissions import Role
from app.services import patients
from tests.ui.conftest import make_window, wait_ops


def patient_count(runtime) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(Patient))


def fill(qtbot, form, **values):
    for key, text in values.items():
        field = form.fields[key]
        field.clear()
        qtbot.keyClicks(field, text)


def save(qtbot, page):
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    wait_ops(qtbot)


def search(qtbot, page, text):
    page.search.query.clear()
    qtbot.keyClicks(page.search.query, text)
    qtbot.waitUntil(lambda: page.search.status.text() != "Type to find a patient.", timeout=3000)
    qtbot.wait(100)  # let the debounced search run
    wait_ops(qtbot)
    return [r.display_name for r in page.search.model.rows]


def test_register_then_find_edit_and_archive_a_patient(qtbot, window, runtime):
    page = window.patients
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    fill(
        qtbot,
        page.form,
        first_name="Margaret",
        last_name="Oyelaran",
        preferred_name="Peggy",
        date_of_birth="04/17/1962",
        mobile_phone="(212) 555-0142",
        email="peggy@example.org",
    )
    save(qtbot, page)
    assert "Saved" in page.message.text()
    assert page.form.title.text() == "Margaret “Peggy” Oyelaran"
    assert page.form.fields["mobile_phone"].text() == "(212) 555-0142"
    assert page.record is not None and page.record.data.mobile_phone == "+12125550142"

    assert search(qtbot, page, "oyelran") == ["Oyelaran, Margaret (Peggy)"]  # a typo still finds her
    assert search(qtbot, page, "04/17/1962") == ["Oyelaran, Margaret (Peggy)"]
    assert search(qtbot, page, "0142") == ["Oyelaran, Margaret (Peggy)"]

    fill(qtbot, page.form, city="Albany")
    assert page.has_unsaved_changes()
    save(qtbot, page)
    assert not page.has_unsaved_changes()
    assert page.record.data.city == "Albany" and page.record.version == 2

    # the reason prompt is a plain input dialog: answer it
    from PySide6.QtWidgets import QInputDialog

    original = QInputDialog.getText
    QInputDialog.getText = staticmethod(lambda *a, **k: ("moved away", True))
    try:
        qtbot.mouseClick(page.archive_button, Qt.MouseButton.LeftButton)
        wait_ops(qtbot)
    finally:
        QInputDialog.getText = original
    assert "ARCHIVED" in page.form.subtitle.text()
    assert page.archive_button.text() == "Unarchive"
    assert search(qtbot, page, "oyelaran") == []
    page.search.include_archived.setChecked(True)
    wait_ops(qtbot)
    assert [r.archived for r in page.search.model.rows] == [True]
    assert patient_count(runtime) == 1, "archiving never deletes"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"first_name": "", "last_name": "Doe", "date_of_birth": "01/02/1990"}, "first_name", "First name is required"),
        ({"first_name": "Jo", "last_name": "", "date_of_birth": "01/02/1990"}, "last_name", "Last name is required"),
        ({"first_name": "Jo", "last_name": "Doe", "date_of_birth": ""}, "date_of_birth", "Date of birth is required"),
        ({"first_name": "Jo", "last_name": "Doe", "date_of_birth": "02/30/2001"}, "date_of_birth", "not a real date"),
        ({"first_name": "Jo", "last_name": "Doe", "date_of_birth": "01/01/2999"}, "date_of_birth", "in the future"),
        ({"first_name": "Jo", "last_name": "Doe", "date_of_birth": "01/01/1850"}, "date_of_birth", "before 1900"),
        ({"first_name": "Jo", "last_name": "Doe", "date_of_birth": "yesterday"}, "date_of_birth", "is not a date"),
        (
            {"first_name": "Jo", "last_name": "Doe", "date_of_birth": "01/02/1990", "mobile_phone": "12"},
            "mobile_phone",
            "wrong number of digits",
        ),
        (
            {"first_name": "Jo", "last_name": "Doe", "date_of_birth": "01/02/1990", "email": "jo@"},
            "email",
            "not an email address",
        ),
    ],
)
def test_each_invalid_value_is_explained_and_nothing_is_saved(qtbot, window, runtime, values, field, message):
    page = window.patients
    fill(qtbot, page.form, **values)
    save(qtbot, page)
    assert message in page.message.text()
    assert page.form.fields[field].property("invalid") is True
    assert message in page.form.fields[field].toolTip()
    assert patient_count(runtime) == 0
    # what was typed stays in the form, so the user only fixes the one field
    for key, text in values.items():
        assert page.form.fields[key].text() == text


def test_sms_preference_without_consent_is_refused(qtbot, window, runtime):
    page = window.patients
    fill(qtbot, page.form, first_name="Jo", last_name="Doe", date_of_birth="01/02/1990", mobile_phone="2125550100")
    page.form._combo_set("preferred_contact", "sms")
    save(qtbot, page)
    assert "SMS consent" in page.message.text()
    assert patient_count(runtime) == 0


def test_incomplete_insurance_and_alert_rows_are_refused(qtbot, window, runtime):
    page = window.patients
    fill(qtbot, page.form, first_name="Jo", last_name="Doe", date_of_birth="01/02/1990")
    page.form.insurance.add_row({"carrier": "Delta Dental", "member_id": ""})
    page.form.alerts.add_row({"kind": "allergy", "description": " "})
    save(qtbot, page)
    assert "carrier and member id are both required" in page.message.text()
    assert "Medical alert 1" in page.message.text()
    assert patient_count(runtime) == 0


def test_alerts_show_as_a_banner_wherever_the_patient_is_open(qtbot, staff):
    page = make_window(qtbot, staff[Role.DENTIST]).patients
    fill(qtbot, page.form, first_name="Ana", last_name="Lima", date_of_birth="1975-05-05")
    page.form.alerts.add_row({"kind": "allergy", "description": "Penicillin", "severe": True})
    assert page.form.alert_banner.isVisible()
    save(qtbot, page)
    assert "ALLERGY: Penicillin (SEVERE)" in page.form.alert_banner.text()
    assert search(qtbot, page, "lima")[0].startswith("Lima, Ana")
    assert page.search.model.rows[0].has_alerts


def test_a_new_patient_form_never_shows_the_previous_patients_alerts(qtbot, staff):
    from app.domain.patients import AlertInput, PatientInput

    dentist = staff[Role.DENTIST]
    record = patients.register(
        dentist, PatientInput("Ana", "Lima", "1975-05-05", alerts=(AlertInput("allergy", "Latex"),))
    )
    page = make_window(qtbot, dentist).patients
    page.open_patient(record.id)
    wait_ops(qtbot)
    assert page.form.alert_banner.isVisible()
    page.new_patient()
    assert not page.form.alert_banner.isVisible()
    assert page.form.alerts.rows() == []


def test_receptionist_sees_alerts_but_cannot_change_them(qtbot, staff):
    dentist = staff[Role.DENTIST]
    from app.domain.patients import AlertInput, PatientInput

    patients.register(dentist, PatientInput("Ana", "Lima", "1975-05-05", alerts=(AlertInput("allergy", "Latex"),)))
    window = make_window(qtbot, staff[Role.RECEPTIONIST])
    page = window.patients
    search(qtbot, page, "lima")
    page.search._choose_first()
    wait_ops(qtbot)
    assert "Latex" in page.form.alert_banner.text()
    assert not page.form.alerts.add_button.isEnabled()
    window._signing_out = True


def test_guarantor_links_show_the_family(qtbot, window, staff):
    from app.domain.patients import PatientInput

    admin = staff[Role.ADMINISTRATOR]
    parent = patients.register(admin, PatientInput("Rosa", "Marquez", "1980-01-01"))
    page = window.patients
    fill(qtbot, page.form, first_name="Tomas", last_name="Marquez", date_of_birth="2015-06-01")
    page.form.set_guarantor(parent.id, "Rosa Marquez")
    save(qtbot, page)
    assert "Guarantor: Rosa Marquez" in page.form.guarantor_label.text()
    assert "Rosa Marquez" in page.form.family.item(0).text()


def test_ctrl_f_finds_a_patient_from_any_screen(qtbot, window):
    window.go_to("admin")
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.patients
    assert window.patients.search.query.hasFocus()


def test_areas_not_built_yet_say_so(qtbot, window):
    window.go_to("imaging")
    from PySide6.QtWidgets import QLabel

    titles = [w.text() for w in window.pages.currentWidget().findChildren(QLabel)]
    assert "Imaging is not available yet" in titles


def test_window_remembers_its_geometry(qtbot, staff):
    admin = staff[Role.ADMINISTRATOR]
    first = make_window(qtbot, admin)
    first.resize(1234, 777)
    first._save_geometry()
    first._signing_out = True
    first.close()
    second = make_window(qtbot, admin)
    assert (second.width(), second.height()) == (1234, 777)
    second._signing_out = True


def test_stale_edit_is_refused_with_who_changed_it(qtbot, window, staff, message_boxes):
    from app.domain.patients import PatientInput

    dentist = staff[Role.DENTIST]
    record = patients.register(dentist, PatientInput("Li", "Wei", "1990-02-02"))
    page = window.patients
    page.open_patient(record.id)
    wait_ops(qtbot)
    patients.update(dentist, record.id, record.version, PatientInput("Li", "Wei", "1990-02-02", city="Troy"))
    fill(qtbot, page.form, city="Utica")
    save(qtbot, page)
    assert "changed by dentist" in page.message.text()
    assert any("changed by dentist" in text for _kind, text in message_boxes)
    assert page.form.fields["city"].text() == "Utica", "the user's typing is kept"
