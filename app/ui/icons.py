"""The app's icons: one line-drawn SVG set, so every screen looks alike at any DPI."""

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

ICON_DIR = Path(__file__).resolve().parents[2] / "resources" / "icons"


@cache
def icon(name: str) -> QIcon:
    """The named icon from resources/icons (SVG scales cleanly on high-DPI screens)."""
    path = ICON_DIR / f"{name}.svg"
    if not path.exists():
        raise FileNotFoundError(f"missing icon {path}")
    return QIcon(str(path))
