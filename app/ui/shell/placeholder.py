"""A page for an area that a later release fills: says so plainly, pretends nothing."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.ui.icons import icon


class NotYetAvailablePage(QWidget):
    def __init__(self, area: str, icon_name: str, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        badge = QLabel()
        badge.setPixmap(icon(icon_name).pixmap(72, 72))
        badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel(f"{area} is not available yet")
        title.setObjectName("placeholderTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setStyleSheet("font-size: 18px; font-weight: 600;")
        body = QLabel(f"{what}<br>It arrives in a coming release of Chairside; nothing here is stored yet.")
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body.setWordWrap(True)
        body.setStyleSheet("color: #5F6B73;")
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(badge)
        layout.addWidget(title)
        layout.addWidget(body)
        layout.addStretch()
