"""The status bar's cloud sync state: words first, with a shape and a colour as extra cues.

Each state has its own mark (✓ ↻ ↑ …) as well as its colour, so the text and the mark
carry the meaning for anyone who cannot tell the colours apart.
"""

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QToolButton, QWidget

from app.services.sync_background import SyncState

REFUSED_SHOWN = 70  # characters of a refusal in the bar; the tooltip has all of it


@dataclass(frozen=True)
class Look:
    text: str
    mark: str
    colour: str


_MARKS = {
    "local": ("○", "#5F6B73"),
    "synced": ("✓", "#1B5E20"),
    "syncing": ("↻", "#1F5F99"),
    "pending": ("↑", "#7A4B00"),
    "offline": ("⊘", "#7A4B00"),
    "conflicts": ("⚠", "#B3261E"),
    "refused": ("✖", "#B3261E"),
}


def local_time(moment: datetime) -> str:
    """A moment in this computer's zone, with its date."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def clock(moment: datetime | None) -> str:
    """A time in this computer's zone: '10:42' today, '21 Nov 10:42' on another day."""
    if moment is None:
        return ""
    local = moment.astimezone()
    same_day = local.date() == datetime.now().astimezone().date()
    return local.strftime("%H:%M" if same_day else "%d %b %H:%M")


def describe(state: SyncState) -> Look:
    kind = state.kind
    if kind == "local":
        text = "Sync: local only"
    elif kind == "synced":
        text = f"Synced {clock(state.last_ok)}".rstrip()
    elif kind == "syncing":
        text = "Syncing…"
    elif kind == "pending":
        text = f"Pending {state.pending}"
    elif kind == "offline":
        retry = f" — retrying at {clock(state.retry_at)}" if state.retry_at else ""
        text = f"Offline{retry} ({state.pending} waiting)"
    elif kind == "conflicts":
        text = f"Conflicts {state.conflicts}"
    elif kind == "refused":
        message = state.message if len(state.message) <= REFUSED_SHOWN else state.message[: REFUSED_SHOWN - 1] + "…"
        text = f"Sync refused: {message}"
    else:  # a state this release does not know: say it plainly
        text = f"Sync: {kind}"
    if state.conflicts and kind != "conflicts":
        text += f" · Conflicts {state.conflicts}"  # still needing a person while offline, refused or disconnected
    mark, colour = _MARKS.get(kind, _MARKS["refused"])
    return Look(text, mark, colour)


def tooltip(state: SyncState) -> str:
    if state.kind == "local":
        return "This workstation is not connected to a cloud service (Admin → Cloud connects it)."
    lines = [
        f"Last successful sync: {local_time(state.last_ok)}" if state.last_ok else "Not synced yet",
        f"Changes waiting to be sent: {state.pending}",
    ]
    if state.conflicts:
        lines.append(f"Conflicts to resolve: {state.conflicts} (click to see them)")
    if state.message:
        lines.append(state.message)
    return "\n".join(lines)


class SyncStatusWidget(QWidget):
    """Shows a SyncState; a click while there are conflicts asks for the conflicts list."""

    conflicts_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.button = QToolButton()
        self.button.setObjectName("syncStatus")
        self.button.setAutoRaise(True)
        self.button.clicked.connect(self._clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.addWidget(self.button)
        self.state = SyncState("local")
        self.show_state(self.state)

    def text(self) -> str:
        """What the bar says, without the mark."""
        return describe(self.state).text

    def show_state(self, state: SyncState) -> None:
        self.state = state
        look = describe(state)
        self.button.setText(f"{look.mark}  {look.text}")
        self.button.setToolTip(tooltip(state))
        clickable = state.conflicts > 0
        # conflicts read as a link: underlined, a pointing hand
        underline = "underline" if clickable else "none"
        self.button.setStyleSheet(
            f"QToolButton {{ color: {look.colour}; text-decoration: {underline}; padding: 1px 6px; }}"
        )
        self.button.setCursor(Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor)
        self.button.setAccessibleName(look.text)

    def _clicked(self) -> None:
        if self.state.conflicts:
            self.conflicts_requested.emit()
