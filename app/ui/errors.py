"""The one place errors reach the user: their message if it is for them, details otherwise."""

import logging
import traceback

from PySide6.QtWidgets import QMessageBox, QWidget

from app.domain.errors import UserError

log = logging.getLogger(__name__)


def show_error(parent: QWidget | None, error: BaseException, title: str = "Chairside") -> None:
    """User errors show their own message; anything else shows a dialog with copyable details."""
    if isinstance(error, UserError):
        QMessageBox.warning(parent, title, str(error))
        return
    # the traceback names code, not patients: safe for the log and for a support ticket
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    log.error("unexpected error: %s", type(error).__name__)
    box = QMessageBox(QMessageBox.Icon.Critical, title, "Something went wrong; nothing was saved.", parent=parent)
    box.setInformativeText("Copy the details below into a support request.")
    box.setDetailedText(details)
    box.exec()
