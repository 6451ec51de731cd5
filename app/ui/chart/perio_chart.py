"""The periodontal chart: one exam drawn like the paper form and filled in one keystroke per reading.

Drawn by hand (not a grid of line edits) so that a reading costs one key press and the repaint of
one tooth column: 192 sites of spin boxes would be slow to build and slower to type into. The
widget edits the PerioExam in place through its checked setters and tells the page by signal;
saving, the exam's status and finding earlier exams to compare with belong to the page.

Layout, top to bottom, the patient's right on the screen's left as when facing them:
the upper arch (tooth numbers, mobility, buccal furcation, the facial rows, the facial and palatal
graphic bands, the palatal rows, palatal furcation), then the lower arch as its mirror image, so
each arch's tooth numbers sit at the outer edge and the two graphic bands of an arch meet at the
crowns. Every tooth is a column of three site sub-columns in screen order.
"""

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

from PySide6.QtCore import QEvent, QLineF, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFocusEvent,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QResizeEvent,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.domain import teeth
from app.domain.errors import ValidationError
from app.domain.perio import (
    DEFAULT_PATH,
    PROBING_PATHS,
    SITES,
    PerioExam,
    Segment,
    Side,
    ToothReading,
    furcation_path,
    probing_path,
    summarize,
    tooth_path,
)
from app.domain.teeth import Arch, Numbering

# --- geometry (pixels) -------------------------------------------------------------------------
GUTTER = 118  # row labels at the left edge
HEADER = 24  # mode, cursor and the read-only banner
FOOTER = 40  # summary figures, messages and the key hint
ARCH_GAP = 12
BAND = 50  # height of a graphic band
MM = 3  # pixels per millimetre in the graphic bands
CROWN_ROOM = 10  # between a band's crown edge and its CEJ line: room for a margin coronal to the CEJ
MIN_TOOTH = 54  # narrowest tooth column that still fits a two-digit reading per site

# rows of the upper arch from the top; the lower arch is the same list upside down
_UPPER_ROWS: tuple[tuple[str, Side | None, int], ...] = (
    ("tooth", None, 18),
    ("mobility", None, 16),
    ("furcation", Side.FACIAL, 16),
    ("flags", Side.FACIAL, 12),
    ("margin", Side.FACIAL, 16),
    ("depth", Side.FACIAL, 18),
    ("cal", Side.FACIAL, 14),
    ("band", Side.FACIAL, BAND),
    ("band", Side.LINGUAL, BAND),
    ("depth", Side.LINGUAL, 18),
    ("margin", Side.LINGUAL, 16),
    ("cal", Side.LINGUAL, 14),
    ("flags", Side.LINGUAL, 12),
    ("furcation", Side.LINGUAL, 16),
)
BLOCK = sum(h for _, _, h in _UPPER_ROWS)
_PER_TOOTH_ROWS = 18 + 16  # tooth number and mobility: rows without site sub-columns
UPPER_TOP = HEADER + 4
LOWER_TOP = UPPER_TOP + BLOCK + ARCH_GAP
FOOTER_TOP = LOWER_TOP + BLOCK + 4
TOTAL_HEIGHT = FOOTER_TOP + FOOTER
_BLOCK_TOP = {Arch.UPPER: UPPER_TOP, Arch.LOWER: LOWER_TOP}


def _layout() -> dict[Arch, tuple[tuple[str, Side | None, int, int], ...]]:
    """Per arch: (kind, side, top, height) of every row, top to bottom."""
    out = {}
    for arch, spec in ((Arch.UPPER, _UPPER_ROWS), (Arch.LOWER, _UPPER_ROWS[::-1])):
        y, rows = _BLOCK_TOP[arch], []
        for kind, side, h in spec:
            rows.append((kind, side, y, h))
            y += h
        out[arch] = tuple(rows)
    return out


_ROWS = _layout()
_ROW_AT = {(arch, kind, side): (y, h) for arch, rows in _ROWS.items() for kind, side, y, h in rows}

_ARCH_TEETH = {Arch.UPPER: teeth.PERMANENT[:16], Arch.LOWER: teeth.PERMANENT[16:]}
_ARCH_OF = {t: teeth.arch(t) for t in teeth.PERMANENT}
_COLUMN = {t: teeth.display_slot(t)[1] for t in teeth.PERMANENT}
_AT_SLOT = {teeth.display_slot(t): t for t in teeth.PERMANENT}
_RIGHT = {t: teeth.is_right(t) for t in teeth.PERMANENT}
_FURCATION_SITES = {t: teeth.furcation_sites(t) for t in teeth.PERMANENT}
_SITE_INDEX = {s: i for i, s in enumerate(SITES)}

_ROW_LABELS = {
    "tooth": "",
    "mobility": "Mobility",
    "furcation": "Furcation",
    "flags": "Bleed/Supp/Plaque",
    "margin": "Gingival margin",
    "depth": "Probing depth",
    "cal": "CAL",
}
_BAND_LABELS = {
    (Arch.UPPER, Side.FACIAL): "Buccal",
    (Arch.UPPER, Side.LINGUAL): "Palatal",
    (Arch.LOWER, Side.LINGUAL): "Lingual",
    (Arch.LOWER, Side.FACIAL): "Buccal",
}

# --- colours -----------------------------------------------------------------------------------
WHITE = QColor("#FFFFFF")
HEADER_FILL = QColor("#F5F7F8")
INK = QColor("#263238")
FAINT_INK = QColor("#78909C")
GRID = QColor("#E3E8EB")
GRID_STRONG = QColor("#B0BEC5")
MIDLINE = QColor("#607D8B")
CURRENT_COLUMN = QColor("#F2F7FC")
CURSOR_FILL = QColor("#D6E9FB")
CURSOR_INK = QColor("#1565C0")
CURSOR_PEN = QPen(CURSOR_INK, 2)
CURSOR_PEN_UNFOCUSED = QPen(QColor("#90A4AE"), 2)
MISSING_FILL = QColor("#ECEFF1")
MISSING_BRUSH = QBrush(QColor("#CFD8DC"), Qt.BrushStyle.BDiagPattern)
DEEP = QColor("#D32F2F")  # 4-5 mm
DEEPER = QColor("#8E0000")  # 6 mm and more
BLEEDING = QColor("#E53935")
SUPPURATION = QColor("#FBC02D")
PLAQUE = QColor("#78909C")
DOT = 5.0  # diameter of a bleeding, suppuration or plaque dot
GUM_PEN = QPen(QColor("#1E63C4"), 2)
POCKET_PEN = QPen(QColor("#D32F2F"), 1.5)
POCKET_FILL = QColor(211, 47, 47, 90)
EARLIER_PEN = QPen(QColor(96, 125, 139, 150), 1, Qt.PenStyle.DashLine)
CEJ_PEN = QPen(QColor("#90A4AE"), 1, Qt.PenStyle.DashLine)
CROWN = QColor("#FBF8F0")
WORSE = QColor("#EF6C00")
IMPLANT = QColor("#00796B")
FURCATION_INK = QColor("#6A1B9A")
BANNER = QColor("#FFE0B2")
BANNER_INK = QColor("#8D4B00")
ERROR_INK = QColor("#B3261E")
NOTE_INK = QColor("#1565C0")

# fonts, by index into PerioChart._fonts
NORMAL, BOLD, SMALL, SMALL_BOLD = range(4)


class EntryMode(StrEnum):
    DEPTH = "depth"
    MARGIN = "margin"
    MOBILITY = "mobility"
    FURCATION = "furcation"


_MODE_ROW = {
    EntryMode.DEPTH: "depth",
    EntryMode.MARGIN: "margin",
    EntryMode.MOBILITY: "mobility",
    EntryMode.FURCATION: "furcation",
}
_MODE_LABEL = {
    EntryMode.DEPTH: "Probing depth",
    EntryMode.MARGIN: "Gingival margin",
    EntryMode.MOBILITY: "Mobility",
    EntryMode.FURCATION: "Furcation",
}
_MODE_KEYS = {
    Qt.Key.Key_1: EntryMode.DEPTH,
    Qt.Key.Key_2: EntryMode.MARGIN,
    Qt.Key.Key_3: EntryMode.MOBILITY,
    Qt.Key.Key_4: EntryMode.FURCATION,
}
_MOVES = "Space skip · Backspace back · ←/→ along the path · ↑/↓ other side · Del clears"
_TEETH_KEYS = "X missing · I implant"
_HINTS = {
    EntryMode.DEPTH: f"0–9 probing depth, + then a digit for 10+ · B/S/P mark the highlighted site · {_MOVES} · "
    f"{_TEETH_KEYS}",
    EntryMode.MARGIN: "0–9 gingival margin, - then a digit above the CEJ, + then a digit for 10+ · "
    f"B/S/P mark the highlighted site · {_MOVES} · {_TEETH_KEYS}",
    EntryMode.MOBILITY: f"0–3 mobility · {_MOVES} · {_TEETH_KEYS}",
    EntryMode.FURCATION: f"1–3 furcation grade, 0 clears · {_MOVES} · {_TEETH_KEYS}",
}
_MODE_SWITCH_HINT = "Ctrl+1 depth · Ctrl+2 margin · Ctrl+3 mobility · Ctrl+4 furcation"
READ_ONLY_BANNER = "Completed exam — read only"
_READ_ONLY_HINT = "Read only: arrows, Space and Backspace move the cursor; nothing can be changed"
READ_ONLY_MESSAGE = "This exam is completed and read only; its readings cannot be changed."
END_OF_CHART = "End of chart"
START_OF_CHART = "Start of chart"
_DIGITS = frozenset("0123456789")
_TYPED = _DIGITS | {"+", "-"}
_KEYS = frozenset(
    {
        Qt.Key.Key_B,
        Qt.Key.Key_S,
        Qt.Key.Key_P,
        Qt.Key.Key_X,
        Qt.Key.Key_I,
        Qt.Key.Key_Space,
        Qt.Key.Key_Backspace,
        Qt.Key.Key_Delete,
        Qt.Key.Key_Left,
        Qt.Key.Key_Right,
        Qt.Key.Key_Up,
        Qt.Key.Key_Down,
    }
)
_FLAG_KEYS = {Qt.Key.Key_B: "bleeding", Qt.Key.Key_S: "suppuration", Qt.Key.Key_P: "plaque"}

Slot = tuple[str, int]  # (tooth, site index); -1 for the per-tooth (mobility) path


def _side(site_index: int) -> Side:
    return Side.FACIAL if site_index < 3 else Side.LINGUAL


def _sub_column(tooth: str, site_index: int) -> int:
    # on the patient's right (screen left) the distal site is outermost, i.e. leftmost
    k = site_index % 3
    return k if _RIGHT[tooth] else 2 - k


def _site_at(tooth: str, side: Side, sub: int) -> int:
    k = sub if _RIGHT[tooth] else 2 - sub
    return k if side == Side.FACIAL else k + 3


def _apical(arch: Arch, side: Side) -> int:
    """-1 when the band's roots point up the screen, +1 when down: an arch's two bands meet at the crowns."""
    return -1 if (arch == Arch.UPPER) == (side == Side.FACIAL) else 1


def _pct(value: Decimal | None) -> str:
    return "–" if value is None else f"{value}%"


class PerioChart(QWidget):
    """Paints one PerioExam like the paper form and takes readings from the keyboard."""

    exam_edited = Signal()  # after every accepted change (the page debounces saving)
    reading_refused = Signal(str)  # the validation message, for the status line
    cursor_moved = Signal(str, int)  # tooth, site index (or -1 for per-tooth modes)
    mode_changed = Signal(str)  # EntryMode value, when Ctrl+1..4 or set_mode switches it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("perioChart")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumSize(GUTTER + 16 * MIN_TOOTH, TOTAL_HEIGHT)
        self._exam = PerioExam.blank()
        self._read_only = False
        self._labels = {t: t for t in teeth.PERMANENT}
        self._segments: tuple[Segment, ...] = tuple(PROBING_PATHS[DEFAULT_PATH][1])
        self._mode = EntryMode.DEPTH
        self._worse: frozenset[tuple[str, str]] = frozenset()
        self._earlier: PerioExam | None = None
        # the entry path of the current mode over present teeth, and over every tooth: the
        # latter orders a cursor parked on a missing tooth among the others
        self._path: list[Slot] = []
        self._index: dict[Slot, int] = {}
        self._full: list[Slot] = []
        self._full_index: dict[Slot, int] = {}
        self._cursor: Slot = ("", -1)
        self._pos: int | None = None
        self._ten = False  # "+" typed: the next digit is 10 + digit
        self._negative = False  # "-" typed (margin mode): the next reading is coronal to the CEJ
        self._message = ""
        self._message_is_error = False
        self._summary = ""
        self._col_w = MIN_TOOTH
        self._grid: dict[str, list[QLineF]] = {}
        self._make_fonts()
        self._repath(full=True)
        self._cursor, self._pos = self._first_slot()
        self._resummarize()

    # --- public API ----------------------------------------------------------------------------
    def set_exam(self, exam: PerioExam, *, read_only: bool = False) -> None:
        self._exam = exam
        self._read_only = read_only
        self._clear_pending()
        self._message = ""
        self._repath(full=True)
        self._set_cursor_slot(*self._first_slot())
        self._resummarize()
        self.update()

    def exam(self) -> PerioExam:
        return self._exam

    def is_read_only(self) -> bool:
        return self._read_only

    def set_comparison(self, worse: set[tuple[str, str]], earlier: PerioExam | None) -> None:
        """Sites (tooth, site name) worse by 2 mm or more get a marker; the earlier exam's pockets are drawn faint."""
        self._worse = frozenset(worse)
        self._earlier = earlier
        self.update()

    def set_numbering(self, numbering: Numbering) -> None:
        numbering = Numbering(numbering)
        self._labels = {t: teeth.to_label(t, numbering) for t in teeth.PERMANENT}
        self.update()

    def set_path(self, segments: Sequence[Segment]) -> None:
        """The probing order; the cursor stays where it is when the new path passes it."""
        self._segments = tuple(segments)
        self._repath(full=True)
        if self._cursor not in self._index:
            self._set_cursor_slot(*self._first_slot())
        self._pos = self._index.get(self._cursor)
        self.update()

    def mode(self) -> EntryMode:
        return self._mode

    def set_mode(self, mode: EntryMode) -> None:
        """Switch what the digits enter; the cursor goes to the first slot of that mode's path."""
        mode = EntryMode(mode)
        changed = mode != self._mode
        self._mode = mode
        self._clear_pending()
        self._message = ""
        self._repath(full=True)
        self._set_cursor_slot(*self._first_slot())
        self.update()
        if changed:
            self.mode_changed.emit(mode.value)

    def cursor(self) -> tuple[str, int]:
        return self._cursor

    def set_cursor(self, tooth: str, site_index: int) -> None:
        """Move the cursor to a slot of the current mode's path; a missing tooth may be visited to unmark it."""
        slot = (tooth, -1) if self._mode == EntryMode.MOBILITY else (tooth, site_index)
        if slot in self._index:
            self._go(slot)
        elif slot in self._full_index and self._exam.teeth[tooth].missing:
            self._go(slot)

    def site_rect(self, tooth: str, site_index: int) -> QRectF:
        """The cell where the current mode enters a site's reading (the mobility cell for index -1)."""
        if site_index < 0 or self._mode == EntryMode.MOBILITY:
            return self._cell(tooth, -1, "mobility")
        return self._cell(tooth, site_index, _MODE_ROW[self._mode])

    def cell_text(self, kind: str, tooth: str, site_index: int = -1) -> str:
        """What a cell shows: kind is "tooth", "mobility", "furcation", "margin", "depth" or "cal"."""
        r = self._exam.teeth[tooth]
        if kind == "tooth":
            return self._labels[tooth]
        pending = (tooth, site_index if site_index >= 0 else -1) == self._cursor and kind == _MODE_ROW[self._mode]
        if pending and (self._ten or self._negative):
            return ("-" if self._negative else "") + ("1_" if self._ten else "_")
        if r.missing:
            return ""
        value: int | None
        if kind == "mobility":
            value = r.mobility
        elif kind == "furcation":
            value = r.furcation.get(SITES[site_index])
        elif kind == "depth":
            value = r.depth[site_index]
        elif kind == "margin":
            value = r.margin[site_index]
        elif kind == "cal":
            value = r.cal(site_index)
        else:
            raise ValueError(f"unknown perio chart cell kind: {kind!r}")
        return "" if value is None else str(value)

    def summary_text(self) -> str:
        return self._summary

    def message_text(self) -> str:
        """The footer's message: the last refusal (until the next accepted key) or "End of chart"."""
        return self._message

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1400, TOTAL_HEIGHT)

    # --- path and cursor ---------------------------------------------------------------------
    def _slots(self, exam: PerioExam) -> list[Slot]:
        if self._mode == EntryMode.MOBILITY:
            return [(t, -1) for t in tooth_path(exam, self._segments)]
        if self._mode == EntryMode.FURCATION:
            return [(t, _SITE_INDEX[s]) for t, s in furcation_path(exam, self._segments)]
        return probing_path(exam, self._segments)

    def _repath(self, *, full: bool = False) -> None:
        self._path = self._slots(self._exam)
        self._index = {s: k for k, s in enumerate(self._path)}
        if full:
            self._full = self._slots(PerioExam.blank())
            self._full_index = {s: k for k, s in enumerate(self._full)}
        self._pos = self._index.get(self._cursor)

    def _first_slot(self) -> tuple[Slot, int | None]:
        if self._path:
            return self._path[0], 0
        return (self._full[0] if self._full else ("", -1)), None

    def _nearest_present(self, slot: Slot, forward: bool) -> Slot | None:
        """The first slot of the path after (or before) one that is not on it, in full-path order."""
        k = self._full_index.get(slot)
        if k is None:
            return self._path[0] if self._path else None
        span = range(k + 1, len(self._full)) if forward else range(k - 1, -1, -1)
        for j in span:
            if self._full[j] in self._index:
                return self._full[j]
        return None

    def _set_cursor_slot(self, slot: Slot, pos: int | None) -> None:
        old = self._cursor
        self._cursor, self._pos = slot, pos
        if old != slot:
            self._touch_tooth(old[0])
            self._touch_tooth(slot[0])
            self._touch_header()
            self.cursor_moved.emit(*slot)

    def _go(self, slot: Slot) -> None:
        if self._ten or self._negative:
            self._clear_pending()
            self._touch_tooth(self._cursor[0])
        self._set_cursor_slot(slot, self._index.get(slot))

    def _step(self, forward: bool) -> None:
        if self._pos is None:
            # parked on a missing tooth: on to the nearest slot of the path in that direction
            target = self._nearest_present(self._cursor, forward)
            if target is not None:
                self._go(target)
            else:
                self._note(END_OF_CHART if forward else START_OF_CHART)
            return
        k = self._pos + (1 if forward else -1)
        if 0 <= k < len(self._path):
            self._go(self._path[k])
        else:
            self._note(END_OF_CHART if forward else START_OF_CHART)

    def _vertical(self, down: bool) -> None:
        """Up/Down: the same tooth on the other side, or across the occlusal plane to the other arch."""
        tooth, i = self._cursor
        if not tooth:
            return
        arch = _ARCH_OF[tooth]
        row, col = teeth.display_slot(tooth)
        if self._mode == EntryMode.MOBILITY:
            if (arch == Arch.UPPER) == down:
                self.set_cursor(_AT_SLOT[(1 - row, col)], -1)
            return
        # the four site rows down the screen: upper facial, upper lingual, lower lingual, lower facial
        order = [
            (Arch.UPPER, Side.FACIAL),
            (Arch.UPPER, Side.LINGUAL),
            (Arch.LOWER, Side.LINGUAL),
            (Arch.LOWER, Side.FACIAL),
        ]
        k = order.index((arch, _side(i))) + (1 if down else -1)
        if not 0 <= k < 4:
            return
        to_arch, to_side = order[k]
        if to_arch != arch:
            # the tooth above or below shares the column, so the same site index is the same sub-column
            target = (_AT_SLOT[(1 - row, col)], i)
        elif self._mode == EntryMode.FURCATION:
            others = [s for s in self._path if s[0] == tooth and _side(s[1]) == to_side]
            if not others:
                return
            target = others[0]
        else:
            target = (tooth, i + 3 if to_side == Side.LINGUAL else i - 3)
        if target in self._index:
            self._go(target)
        elif self._mode == EntryMode.FURCATION and to_arch != arch:
            # a furcation site sits at a different sub-column on the other arch: take the tooth's first
            others = [s for s in self._path if s[0] == target[0] and _side(s[1]) == to_side]
            if others:
                self._go(others[0])

    def _clear_pending(self) -> None:
        self._ten = self._negative = False

    # --- keyboard --------------------------------------------------------------------------------
    def event(self, e: QEvent) -> bool:
        # the chart's keys beat the window's shortcuts (Delete, digits, letters) while it has focus
        if e.type() == QEvent.Type.ShortcutOverride and isinstance(e, QKeyEvent) and self._takes(e):
            e.accept()
            return True
        return super().event(e)

    def _takes(self, e: QKeyEvent) -> bool:
        if e.modifiers() & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier
        ):
            return False
        key = e.key()
        if key == Qt.Key.Key_Escape:
            return self._ten or self._negative
        return e.text() in _TYPED or key in _KEYS

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key, text, mods = e.key(), e.text(), e.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            if key in _MODE_KEYS:
                self.set_mode(_MODE_KEYS[key])
                return
            super().keyPressEvent(e)
            return
        if mods & (Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier):
            super().keyPressEvent(e)
            return
        if text in _DIGITS:
            self._accept_key()
            self._digit(int(text))
        elif text == "+":
            self._accept_key()
            self._plus()
        elif text == "-":
            self._accept_key()
            self._minus()
        elif key in _FLAG_KEYS:
            self._accept_key()
            self._flag(_FLAG_KEYS[key])
        elif key == Qt.Key.Key_X:
            self._accept_key()
            self._toggle_missing()
        elif key == Qt.Key.Key_I:
            self._accept_key()
            self._toggle_implant()
        elif key in (Qt.Key.Key_Space, Qt.Key.Key_Right):
            self._accept_key()
            self._step(forward=True)
        elif key in (Qt.Key.Key_Backspace, Qt.Key.Key_Left):
            self._accept_key()
            self._step(forward=False)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self._accept_key()
            self._vertical(down=key == Qt.Key.Key_Down)
        elif key == Qt.Key.Key_Delete:
            self._accept_key()
            self._clear_reading()
        elif key == Qt.Key.Key_Escape and (self._ten or self._negative):
            self._accept_key()
            self._clear_pending()
            self._touch_tooth(self._cursor[0])
        else:
            super().keyPressEvent(e)

    def _accept_key(self) -> None:
        # a refusal stays in the footer until the next key is taken
        if self._message:
            self._message = ""
            self._touch_footer()

    def _refuse(self, message: str) -> None:
        self._message, self._message_is_error = message, True
        self._touch_footer()
        self.reading_refused.emit(message)

    def _note(self, message: str) -> None:
        self._message, self._message_is_error = message, False
        self._touch_footer()

    def _editable(self) -> bool:
        if self._read_only:
            self._refuse(READ_ONLY_MESSAGE)
            return False
        return bool(self._cursor[0])

    def _edited(self, tooth: str) -> None:
        self._resummarize()
        self._touch_tooth(tooth)
        self._touch_footer()
        self.exam_edited.emit()

    def _digit(self, d: int) -> None:
        if not self._editable():
            return
        tooth, i = self._cursor
        value = 10 + d if self._ten else d
        if self._negative:
            value = -value
        self._clear_pending()
        try:
            if self._mode == EntryMode.DEPTH:
                self._exam.set_depth(tooth, i, value)
            elif self._mode == EntryMode.MARGIN:
                self._exam.set_margin(tooth, i, value)
            elif self._mode == EntryMode.MOBILITY:
                self._exam.set_mobility(tooth, value)
            else:
                self._exam.set_furcation(tooth, SITES[i], value or None)
        except ValidationError as exc:
            self._touch_tooth(tooth)  # the pending "1_" goes
            self._refuse(str(exc))
            return
        self._edited(tooth)
        self._step(forward=True)

    def _plus(self) -> None:
        # two-digit readings (10 mm and more) are rare, so they cost one extra key, not every reading
        if self._mode not in (EntryMode.DEPTH, EntryMode.MARGIN) or not self._editable():
            return
        self._ten = not self._ten
        self._touch_tooth(self._cursor[0])

    def _minus(self) -> None:
        if self._mode != EntryMode.MARGIN or not self._editable():
            return
        self._negative = not self._negative
        self._touch_tooth(self._cursor[0])

    def _flag(self, flag: str) -> None:
        if self._mode not in (EntryMode.DEPTH, EntryMode.MARGIN):
            self._refuse("Bleeding, suppuration and plaque are marked in depth or margin entry (Ctrl+1 or Ctrl+2).")
            return
        if not self._editable():
            return
        tooth, i = self._cursor
        try:
            self._exam.toggle(flag, tooth, i)
        except ValidationError as exc:
            self._refuse(str(exc))
            return
        self._edited(tooth)

    def _clear_reading(self) -> None:
        if not self._editable():
            return
        tooth, i = self._cursor
        had_pending = self._ten or self._negative
        self._clear_pending()
        try:
            if self._mode == EntryMode.DEPTH:
                self._exam.set_depth(tooth, i, None)
            elif self._mode == EntryMode.MARGIN:
                self._exam.set_margin(tooth, i, None)
            elif self._mode == EntryMode.MOBILITY:
                self._exam.set_mobility(tooth, None)
            else:
                self._exam.set_furcation(tooth, SITES[i], None)
        except ValidationError as exc:
            if had_pending:
                self._touch_tooth(tooth)
            self._refuse(str(exc))
            return
        self._edited(tooth)

    def _toggle_missing(self) -> None:
        if not self._editable():
            return
        tooth = self._cursor[0]
        self._exam.set_missing(tooth, not self._exam.teeth[tooth].missing)
        self._after_structure_change(tooth)

    def _toggle_implant(self) -> None:
        if not self._editable():
            return
        tooth = self._cursor[0]
        self._exam.set_implant(tooth, not self._exam.teeth[tooth].implant)
        self._after_structure_change(tooth)

    def _after_structure_change(self, tooth: str) -> None:
        """A tooth went missing, came back or changed to or from an implant: the path changes."""
        self._clear_pending()
        self._repath()
        if self._cursor not in self._index:
            target = self._nearest_present(self._cursor, True) or self._nearest_present(self._cursor, False)
            if target is not None:
                self._go(target)
        self._pos = self._index.get(self._cursor)
        self._touch_header()
        self._edited(tooth)

    # --- mouse -----------------------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if e.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(e)
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        hit = self._hit(e.position())
        if hit is not None:
            self._accept_key()
            self.set_cursor(*hit)

    def _hit(self, pos: QPointF) -> Slot | None:
        """The slot of the current mode under a point, or None."""
        x, y = pos.x(), pos.y()
        if x < GUTTER:
            return None
        col = int((x - GUTTER) // self._col_w)
        if not 0 <= col < 16:
            return None
        for arch, rows in _ROWS.items():
            for kind, side, top, h in rows:
                if not top <= y < top + h:
                    continue
                tooth = _AT_SLOT[(0 if arch == Arch.UPPER else 1, col)]
                if self._mode == EntryMode.MOBILITY:
                    return tooth, -1
                if side is None:
                    return None
                if self._mode == EntryMode.FURCATION and kind != "furcation":
                    return None
                sub = min(2, int((x - GUTTER - col * self._col_w) // (self._col_w / 3)))
                if self._mode == EntryMode.FURCATION and side == Side.FACIAL:
                    return tooth, _SITE_INDEX["B"]  # the only buccal furcation, whichever third was hit
                return tooth, _site_at(tooth, side, sub)
        return None

    # --- geometry --------------------------------------------------------------------------------
    def resizeEvent(self, e: QResizeEvent) -> None:  # noqa: N802 - Qt override
        # whole-pixel columns: a repainted column then never smudges its neighbours' borders
        self._col_w = max(MIN_TOOTH, (self.width() - GUTTER) // 16)
        self._grid.clear()
        super().resizeEvent(e)

    def _tooth_x(self, tooth: str) -> int:
        return GUTTER + _COLUMN[tooth] * self._col_w

    def _column_rect(self, tooth: str) -> QRectF:
        return QRectF(self._tooth_x(tooth), _BLOCK_TOP[_ARCH_OF[tooth]], self._col_w, BLOCK)

    def _cell(self, tooth: str, site_index: int, kind: str) -> QRectF:
        """A cell: the whole tooth width for per-tooth rows, else the site's third of it."""
        arch = _ARCH_OF[tooth]
        x = self._tooth_x(tooth)
        if site_index < 0 or kind in ("tooth", "mobility"):
            y, h = _ROW_AT[(arch, kind, None)]
            return QRectF(x, y, self._col_w, h)
        y, h = _ROW_AT[(arch, kind, _side(site_index))]
        w = self._col_w / 3
        return QRectF(x + _sub_column(tooth, site_index) * w, y, w, h)

    def _touch_tooth(self, tooth: str) -> None:
        # only the column repaints (its right border included): a keystroke must stay far under 5 ms
        if tooth:
            self.update(QRect(self._tooth_x(tooth), _BLOCK_TOP[_ARCH_OF[tooth]], self._col_w + 1, BLOCK))

    def _touch_header(self) -> None:
        self.update(QRect(0, 0, self.width(), HEADER))

    def _touch_footer(self) -> None:
        self.update(QRect(0, FOOTER_TOP, self.width(), FOOTER))

    # --- summary ---------------------------------------------------------------------------------
    def _resummarize(self) -> None:
        s = summarize(self._exam)
        self._summary = (
            f"Sites ≥4 mm: {s.sites_4_plus} · ≥5 mm: {s.sites_5_plus} · "
            f"Bleeding: {_pct(s.bleeding_pct)} · Plaque: {_pct(s.plaque_pct)}"
        )

    # --- painting --------------------------------------------------------------------------------
    def changeEvent(self, e: QEvent) -> None:  # noqa: N802 - Qt override
        if e.type() == QEvent.Type.FontChange:
            self._make_fonts()
        super().changeEvent(e)

    def focusInEvent(self, e: QFocusEvent) -> None:  # noqa: N802 - Qt override
        self._touch_tooth(self._cursor[0])
        super().focusInEvent(e)

    def focusOutEvent(self, e: QFocusEvent) -> None:  # noqa: N802 - Qt override
        self._touch_tooth(self._cursor[0])
        super().focusOutEvent(e)

    def _make_fonts(self) -> None:
        base = QFont(self.font())
        bold = QFont(base)
        bold.setBold(True)
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() - 1.5))
        small_bold = QFont(small)
        small_bold.setBold(True)
        self._fonts = (base, bold, small, small_bold)
        # laid-out short texts (readings, tooth numbers): three times cheaper to draw than drawText
        self._static: dict[tuple[int, str], tuple[QStaticText, float, float]] = {}
        # laid out now rather than on the first keystroke that needs them
        for v in range(-9, 20):
            for font in (NORMAL, BOLD, SMALL):
                self._static_text(str(v), font)

    def _static_text(self, text: str, font: int) -> tuple[QStaticText, float, float]:
        entry = self._static.get((font, text))
        if entry is None:
            st = QStaticText(text)
            st.setTextFormat(Qt.TextFormat.PlainText)
            st.prepare(QTransform(), self._fonts[font])
            size = st.size()
            entry = self._static[(font, text)] = (st, size.width(), size.height())
        return entry

    def _text(
        self, p: QPainter, rect: QRectF, text: str, font: int, *, right: bool = False, left: bool = False
    ) -> None:
        """Draw a short text centred (or right- or left-aligned) in a cell, from the laid-out cache."""
        st, w, h = self._static_text(text, font)
        p.setFont(self._fonts[font])
        x = rect.right() - w if right else rect.x() if left else rect.x() + (rect.width() - w) / 2
        p.drawStaticText(QPointF(x, rect.y() + (rect.height() - h) / 2), st)

    def _grid_lines(self, tooth: str) -> list[QLineF]:
        """A column's row lines and site dividers, kept until the next resize."""
        lines = self._grid.get(tooth)
        if lines is None:
            arch = _ARCH_OF[tooth]
            x, w = self._tooth_x(tooth), self._col_w
            lines = [QLineF(x, y + h, x + w, y + h) for _kind, _row_side, y, h in _ROWS[arch]]
            top = _BLOCK_TOP[arch] + (_PER_TOOTH_ROWS if arch == Arch.UPPER else 0)
            bottom = _BLOCK_TOP[arch] + BLOCK - (0 if arch == Arch.UPPER else _PER_TOOTH_ROWS)
            lines += [QLineF(x + k * w / 3, top, x + k * w / 3, bottom) for k in (1, 2)]
            self._grid[tooth] = lines
        return lines

    def paintEvent(self, e: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        region = e.region()
        p.fillRect(e.rect(), WHITE)
        width = self.width()
        if region.intersects(QRect(0, 0, width, HEADER)):
            self._paint_header(p)
        for arch in (Arch.UPPER, Arch.LOWER):
            top = _BLOCK_TOP[arch]
            if region.intersects(QRect(0, top, GUTTER + 1, BLOCK)):
                self._paint_gutter(p, arch)
            for tooth in _ARCH_TEETH[arch]:
                # the interior decides: the right border pixel is shared with the next column
                if region.intersects(QRect(self._tooth_x(tooth) + 1, top, self._col_w - 1, BLOCK)):
                    self._paint_tooth(p, tooth)
        if region.intersects(QRect(0, FOOTER_TOP, width, FOOTER)):
            self._paint_footer(p)

    def _paint_header(self, p: QPainter) -> None:
        rect = QRectF(0, 0, self.width(), HEADER)
        p.fillRect(rect, BANNER if self._read_only else HEADER_FILL)
        tooth, i = self._cursor
        where = ""
        if tooth:
            where = self._labels[tooth] + ("" if i < 0 else f" {SITES[i]}")
        p.setFont(self._fonts[BOLD])
        p.setPen(BANNER_INK if self._read_only else INK)
        lead = READ_ONLY_BANNER if self._read_only else _MODE_LABEL[self._mode]
        text_rect = rect.adjusted(8, 0, -8, 0)
        p.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, f"{lead}  ·  {where}")
        if not self._read_only:
            p.setPen(FAINT_INK)
            self._text(p, text_rect, _MODE_SWITCH_HINT, SMALL, right=True)

    def _paint_gutter(self, p: QPainter, arch: Arch) -> None:
        active_row = _MODE_ROW[self._mode]
        for kind, side, y, h in _ROWS[arch]:
            if kind == "tooth":
                label = "Upper" if arch == Arch.UPPER else "Lower"
            elif kind == "band" and side is not None:
                label = _BAND_LABELS[(arch, side)]
            else:
                label = _ROW_LABELS[kind]
            strong = kind in (active_row, "band", "tooth")
            p.setPen(INK if strong else FAINT_INK)
            self._text(p, QRectF(4, y, GUTTER - 10, h), label, SMALL_BOLD if strong else SMALL, right=True)
            p.setPen(GRID)
            p.drawLine(QPointF(0, y + h), QPointF(GUTTER, y + h))
        p.setPen(GRID_STRONG)
        p.drawLine(QPointF(GUTTER, _BLOCK_TOP[arch]), QPointF(GUTTER, _BLOCK_TOP[arch] + BLOCK))

    def _paint_tooth(self, p: QPainter, tooth: str) -> None:
        r = self._exam.teeth[tooth]
        arch = _ARCH_OF[tooth]
        col = self._column_rect(tooth)
        x, w = col.x(), col.width()
        current = tooth == self._cursor[0]
        if r.missing:
            p.fillRect(col, MISSING_FILL)
            p.fillRect(col, MISSING_BRUSH)
        elif current:
            p.fillRect(col, CURRENT_COLUMN)
        cursor_kind = _MODE_ROW[self._mode]
        cursor_rect = self._cell(tooth, self._cursor[1], cursor_kind) if current else None
        if cursor_rect is not None:
            p.fillRect(cursor_rect, CURSOR_FILL)
        # grid first, so the readings draw over it
        p.setPen(GRID)
        p.drawLines(self._grid_lines(tooth))
        c = _COLUMN[tooth]
        p.setPen(MIDLINE if c == 8 else GRID_STRONG)
        p.drawLine(QLineF(x, col.y(), x, col.bottom()))
        p.setPen(MIDLINE if c == 7 else GRID_STRONG)
        p.drawLine(QLineF(x + w, col.y(), x + w, col.bottom()))

        for kind, side, y, h in _ROWS[arch]:
            if kind == "tooth":
                cell = QRectF(x, y, w, h)
                p.setPen(FAINT_INK if r.missing else INK)
                self._text(p, cell, self._labels[tooth], BOLD)
                if r.implant:
                    p.setPen(IMPLANT)
                    self._text(p, cell.adjusted(0, 0, -3, 0), "IMP", SMALL_BOLD, right=True)
            elif r.missing:
                continue
            elif kind == "mobility":
                if r.mobility is not None:
                    p.setPen(DEEP if r.mobility >= 2 else INK)
                    self._text(p, QRectF(x, y, w, h), str(r.mobility), BOLD)
            elif side is None:
                continue
            elif kind == "band":
                self._paint_band(p, tooth, r, arch, side, QRectF(x, y, w, h))
            elif kind == "flags":
                self._paint_flags(p, tooth, r, side, y, h)
            elif kind == "furcation":
                self._paint_furcation(p, tooth, r, side, y, h)
            else:
                self._paint_values(p, tooth, r, kind, side, y, h)
        if cursor_rect is not None:
            # drawn last so nothing covers the one cell the next key goes to
            p.setPen(CURSOR_PEN if self.hasFocus() else CURSOR_PEN_UNFOCUSED)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(cursor_rect.adjusted(2, 2, -2, -2))
            if self._ten or self._negative:
                p.setPen(CURSOR_INK)
                # lifted so the focus frame does not hide the "_" of "1_"
                pending = self.cell_text(cursor_kind, tooth, self._cursor[1])
                self._text(p, cursor_rect.translated(0, -2), pending, BOLD)

    def _site_order(self, tooth: str, side: Side) -> tuple[int, int, int]:
        """Site indices left to right on screen."""
        base = 0 if side == Side.FACIAL else 3
        return (base, base + 1, base + 2) if _RIGHT[tooth] else (base + 2, base + 1, base)

    def _paint_values(
        self, p: QPainter, tooth: str, r: ToothReading, kind: str, side: Side, y: float, h: float
    ) -> None:
        third = self._col_w / 3
        x0 = self._tooth_x(tooth)
        pending = tooth == self._cursor[0] and (self._ten or self._negative) and kind == _MODE_ROW[self._mode]
        for sub, i in enumerate(self._site_order(tooth, side)):
            if pending and i == self._cursor[1]:
                continue  # drawn with the cursor
            if kind == "depth":
                value = r.depth[i]
            elif kind == "margin":
                value = r.margin[i]
            else:
                value = r.cal(i)
            cell = QRectF(x0 + sub * third, y, third, h)
            if kind == "depth" and (tooth, SITES[i]) in self._worse:
                self._paint_worse(p, cell)
            if value is None:
                continue
            if kind == "cal":
                p.setPen(FAINT_INK)
                self._text(p, cell, str(value), SMALL)
            elif kind == "depth" and value >= 4:
                p.setPen(DEEPER if value >= 6 else DEEP)
                self._text(p, cell, str(value), BOLD)
            else:
                p.setPen(INK)
                self._text(p, cell, str(value), NORMAL)

    def _paint_worse(self, p: QPainter, cell: QRectF) -> None:
        # a small ▲ in the cell's top-right corner: 2 mm or more worse than the earlier exam
        right, top = cell.right() - 2, cell.top() + 2
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(WORSE)
        p.drawPolygon(QPolygonF([QPointF(right - 3, top), QPointF(right, top + 5), QPointF(right - 6, top + 5)]))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_flags(self, p: QPainter, tooth: str, r: ToothReading, side: Side, y: float, h: float) -> None:
        third = self._col_w / 3
        x0 = self._tooth_x(tooth)
        cy = y + h / 2
        marks = ((r.bleeding, BLEEDING), (r.suppuration, SUPPURATION), (r.plaque, PLAQUE))
        drawn = False
        for sub, i in enumerate(self._site_order(tooth, side)):
            cx = x0 + sub * third + third / 2
            for k, (values, colour) in enumerate(marks):
                # fixed places (bleeding left, suppuration middle, plaque right) read faster than packed dots
                if values[i]:
                    if not drawn:
                        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
                        p.setPen(Qt.PenStyle.NoPen)
                        drawn = True
                    p.setBrush(colour)
                    p.drawEllipse(QPointF(cx + (k - 1) * (DOT + 1.5), cy), DOT / 2, DOT / 2)
        if drawn:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_furcation(self, p: QPainter, tooth: str, r: ToothReading, side: Side, y: float, h: float) -> None:
        sites = _FURCATION_SITES[tooth]
        if r.implant or not sites:
            return
        third = self._col_w / 3
        x0 = self._tooth_x(tooth)
        for sub, i in enumerate(self._site_order(tooth, side)):
            if SITES[i] not in sites:
                continue
            cell = QRectF(x0 + sub * third, y, third, h)
            grade = r.furcation.get(SITES[i])
            if grade is None:
                # a faint ring where a furcation can be charted
                p.setPen(GRID_STRONG)
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawEllipse(cell.center(), 2.5, 2.5)
            else:
                p.setPen(FURCATION_INK)
                self._text(p, cell, str(grade), BOLD)

    def _paint_band(self, p: QPainter, tooth: str, r: ToothReading, arch: Arch, side: Side, rect: QRectF) -> None:
        apical = _apical(arch, side)
        if apical < 0:
            cej = rect.bottom() - CROWN_ROOM
            p.fillRect(QRectF(rect.x() + 1, cej, rect.width() - 2, CROWN_ROOM), CROWN)
        else:
            cej = rect.top() + CROWN_ROOM
            p.fillRect(QRectF(rect.x() + 1, rect.top(), rect.width() - 2, CROWN_ROOM), CROWN)
        p.setPen(CEJ_PEN)
        p.drawLine(QLineF(rect.x(), cej, rect.right(), cej))
        lo, hi = rect.top() + 1, rect.bottom() - 1
        third = rect.width() / 3
        order = self._site_order(tooth, side)
        xs = [rect.x() + (sub + 0.5) * third for sub in range(3)]
        gum = [min(hi, max(lo, cej + apical * (r.margin[i] or 0) * MM)) for i in order]
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self._earlier is not None:
            before = self._earlier.teeth.get(tooth)
            if before is not None and not before.missing:
                pts = [
                    QPointF(xs[sub], min(hi, max(lo, cej + apical * ((before.margin[i] or 0) + d) * MM)))
                    for sub, i in enumerate(order)
                    if (d := before.depth[i]) is not None
                ]
                if len(pts) > 1:
                    p.setPen(EARLIER_PEN)
                    p.drawPolyline(QPolygonF(pts))
        pocket: list[QPointF] = []
        for sub, i in enumerate(order):
            d = r.depth[i]
            if d is None:
                continue
            base = min(hi, max(lo, gum[sub] + apical * d * MM))
            top, bottom = (gum[sub], base) if base >= gum[sub] else (base, gum[sub])
            p.fillRect(QRectF(xs[sub] - 2, top, 4, bottom - top), POCKET_FILL)
            pocket.append(QPointF(xs[sub], base))
        p.setPen(POCKET_PEN)
        if len(pocket) > 1:
            p.drawPolyline(QPolygonF(pocket))
        elif pocket:
            p.drawLine(QLineF(pocket[0].x() - 3, pocket[0].y(), pocket[0].x() + 3, pocket[0].y()))
        p.setPen(GUM_PEN)
        p.drawPolyline(QPolygonF([QPointF(xs[sub], gum[sub]) for sub in range(3)]))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_footer(self, p: QPainter) -> None:
        line = FOOTER / 2
        first = QRectF(8, FOOTER_TOP, self.width() - 16, line)
        second = QRectF(8, FOOTER_TOP + line, self.width() - 16, line)
        p.setPen(GRID_STRONG)
        p.drawLine(QLineF(0, FOOTER_TOP, self.width(), FOOTER_TOP))
        left = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        p.setFont(self._fonts[BOLD])
        p.setPen(INK)
        p.drawText(first, left, self._summary)
        if self._message:
            p.setPen(ERROR_INK if self._message_is_error else NOTE_INK)
            p.drawText(first, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, self._message)
        p.setPen(FAINT_INK)
        self._text(p, second, _READ_ONLY_HINT if self._read_only else _HINTS[self._mode], SMALL, left=True)
