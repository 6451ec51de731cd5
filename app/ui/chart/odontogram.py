"""The odontogram: a paper-style dental chart of two rows of teeth, drawn by hand.

The chart is laid out as the dentist faces the patient: the patient's right is on the left of
the screen, the upper arch on top. Each tooth has a side-view silhouette (roots outwards) and,
nearer the occlusal plane between the rows, a five-surface diagram to click surfaces on.

One widget painting everything (not a widget per tooth) keeps a full mouth with dozens of
marks well inside the render budget; the tooth shapes are built once per size and cached.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFocusEvent,
    QFont,
    QFontMetricsF,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QTransform,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app.domain import teeth
from app.domain.teeth import Dentition, Numbering, Surface, ToothKind


@dataclass(frozen=True, slots=True)
class ChartMark:
    """One thing drawn on a tooth."""

    tooth: str  # FDI id
    surfaces: str  # "" or stored surfaces like "MOD"
    draw: str  # drawing key, see _paint_mark; "" is a plain tag with the label
    status: str  # condition, existing, planned, completed, referred
    label: str = ""  # short code/description for the tooltip and plain tags


# Colours are picked so the four treatment statuses stay apart for the common red-green
# colour-vision deficiencies: simulated protanopia and deuteranopia (Machado 2009, full
# severity) keep every pair among existing/planned/completed/referred at least 36 CIELAB
# units apart, and each colour has at least 3:1 contrast on white (WCAG non-text contrast).
# Caries (dark brown) and planned work (red) look alike to a protanope, so caries is always
# drawn hatched: the pattern, not the colour, says "decay".
STATUS_COLOURS: dict[str, QColor] = {
    "existing": QColor("#1A237E"),  # dark indigo blue, 13.2:1
    "planned": QColor("#DA2A0B"),  # vermilion red, 4.9:1
    "completed": QColor("#009973"),  # teal green, 3.6:1
    "referred": QColor("#AB77C5"),  # lavender purple, 3.4:1
    "condition": QColor("#4D4D4D"),  # dark grey: missing, fracture, watch ...
    "caries": QColor("#5B3208"),  # dark brown, always hatched
}
_LEGEND = (
    ("Existing", "existing"),
    ("Planned", "planned"),
    ("Completed", "completed"),
    ("Referred", "referred"),
    ("Condition", "condition"),
    ("Caries", "caries"),
)
# painted in this order, so planned work lands on top and is never hidden by older work
STATUS_ORDER = ("condition", "existing", "completed", "referred", "planned")
_STATUS_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}

_BAR_KEYS = frozenset({"abutment", "pontic", "bridge"})
_SURFACE_KEYS = frozenset({"filling", "caries", "sealant", "veneer"})

BACKGROUND = QColor("#FFFFFF")
TOOTH_FILL = QColor("#FBF8F1")  # ivory
TOOTH_LINE = QColor("#7D868C")
DIAGRAM_LINE = QColor("#A7B0B6")
LABEL_TEXT = QColor("#263238")
SELECTED_BG = QColor("#D3E4F8")
HIGHLIGHT_BG = QColor("#FFF0BF")
HOVER_BG = QColor("#F0F3F5")
SELECTED_LINE = QColor("#0D47A1")
GUIDE_LINE = QColor("#DDE3E7")

_TOOTH_NAMES = {1: "central incisor", 2: "lateral incisor", 3: "canine", 4: "first premolar", 5: "second premolar"}
_TOOTH_NAMES |= {6: "first molar", 7: "second molar", 8: "third molar"}
_PRIMARY_NAMES = {1: "central incisor", 2: "lateral incisor", 3: "canine", 4: "first molar", 5: "second molar"}


def legend() -> list[tuple[str, QColor]]:
    """(status label, colour) pairs for a legend strip beside the chart."""
    return [(label, QColor(STATUS_COLOURS[key])) for label, key in _LEGEND]


def mark_colour(mark: ChartMark) -> QColor:
    """The colour a mark is painted in: its status, with caries in brown rather than grey."""
    if mark.status == "condition":
        return STATUS_COLOURS["caries" if mark.draw == "caries" else "condition"]
    return STATUS_COLOURS.get(mark.status, STATUS_COLOURS["condition"])


def tooth_name(t: str) -> str:
    """'upper right first molar', 'lower left primary canine'."""
    side = "right" if teeth.is_right(t) else "left"
    place = teeth.position(t)
    name = f"primary {_PRIMARY_NAMES[place]}" if teeth.is_primary(t) else _TOOTH_NAMES[place]
    return f"{teeth.arch(t).value} {side} {name}"


# --- tooth shapes ------------------------------------------------------------------------------
# Shapes are drawn once in a unit frame: x from -0.5 to 0.5 across the tooth, y from 0 at the
# root apex to 1 at the chewing edge. A QTransform places (and, for the lower arch, flips) them.

NECK = 0.56  # where crown meets root, in unit height
BAR_Y = 0.80  # where a bridge bar crosses the crown


class _Shape(NamedTuple):
    outline: QPainterPath  # crown and root as one silhouette
    crown: QPainterPath
    canals: QPainterPath  # root canal lines
    screw: QPainterPath  # implant body in place of the root
    threads: QPainterPath
    fracture: QPainterPath


def _crown(kind: ToothKind) -> QPainterPath:
    p = QPainterPath()
    if kind == ToothKind.INCISOR:
        p.moveTo(-0.30, NECK)
        p.cubicTo(-0.40, 0.66, -0.48, 0.80, -0.46, 0.95)
        p.quadTo(-0.45, 1.0, -0.38, 1.0)
        p.lineTo(0.38, 1.0)
        p.quadTo(0.45, 1.0, 0.46, 0.95)
        p.cubicTo(0.48, 0.80, 0.40, 0.66, 0.30, NECK)
    elif kind == ToothKind.CANINE:
        p.moveTo(-0.32, NECK)
        p.cubicTo(-0.44, 0.66, -0.50, 0.78, -0.46, 0.87)
        p.lineTo(-0.08, 0.99)
        p.quadTo(0.0, 1.02, 0.08, 0.99)
        p.lineTo(0.46, 0.87)
        p.cubicTo(0.50, 0.78, 0.44, 0.66, 0.32, NECK)
    else:
        # premolars and molars: two cusps with a groove between them, molars wider at the neck
        neck, cusp, groove = (0.32, 0.24, 0.94) if kind == ToothKind.PREMOLAR else (0.38, 0.28, 0.93)
        p.moveTo(-neck, NECK)
        p.cubicTo(-neck - 0.13, 0.65, -0.51, 0.80, -0.46, 0.92)
        p.quadTo(-0.41, 1.0, -cusp, 1.0)
        p.quadTo(-0.08, 1.0, 0.0, groove)
        p.quadTo(0.08, 1.0, cusp, 1.0)
        p.quadTo(0.41, 1.0, 0.46, 0.92)
        p.cubicTo(0.51, 0.80, neck + 0.13, 0.65, neck, NECK)
    p.closeSubpath()
    return p


def _roots(centres: Sequence[float], neck: float, tip: float, furcation: float, half: float) -> QPainterPath:
    """A root outline with one prong per centre, joined at the neck; closed across the neck."""
    top = NECK + 0.03
    p = QPainterPath()
    p.moveTo(-neck, top)
    first, last = centres[0], centres[-1]
    if len(centres) == 1:
        p.cubicTo(-neck * 1.02, 0.35, -neck * 0.55, tip + 0.08, 0.0, tip)
        p.cubicTo(neck * 0.55, tip + 0.08, neck * 1.02, 0.35, neck, top)
        p.closeSubpath()
        return p
    p.cubicTo(-neck - 0.02, 0.38, first - half * 1.3, 0.2, first - half, tip + 0.06)
    p.quadTo(first, tip - 0.03, first + half, tip + 0.06)
    for prev, c in zip(centres, centres[1:], strict=False):
        mid = (prev + c) / 2
        p.cubicTo(prev + half, furcation * 0.7, mid - 0.04, furcation, mid, furcation)
        p.cubicTo(mid + 0.04, furcation, c - half, furcation * 0.7, c - half, tip + 0.06)
        p.quadTo(c, tip - 0.03, c + half, tip + 0.06)
    p.cubicTo(last + half * 1.3, 0.2, neck + 0.02, 0.38, neck, top)
    p.closeSubpath()
    return p


@lru_cache(maxsize=16)
def _shape(kind: ToothKind, upper: bool, two_rooted: bool) -> _Shape:
    crown = _crown(kind)
    if kind == ToothKind.MOLAR:
        # upper molars: two buccal roots and the palatal one between them; lower: mesial and distal
        centres: tuple[float, ...] = (-0.29, 0.0, 0.29) if upper else (-0.24, 0.24)
        root = _roots(centres, 0.40, 0.05, 0.40 if upper else 0.36, 0.09 if upper else 0.12)
    elif two_rooted:  # upper first premolar: buccal and palatal roots
        centres = (-0.14, 0.14)
        root = _roots(centres, 0.30, 0.04, 0.26, 0.09)
    else:
        centres = (0.0,)
        neck = {ToothKind.INCISOR: 0.27, ToothKind.CANINE: 0.30}.get(kind, 0.29)
        tip = {ToothKind.INCISOR: 0.07, ToothKind.CANINE: 0.0}.get(kind, 0.04)
        root = _roots(centres, neck, tip, 0.0, 0.0)
    outline = crown.united(root).simplified()
    canals = QPainterPath()
    for c in centres:
        canals.moveTo(0.0, 0.64)
        canals.lineTo(c * 0.92, 0.13)
    screw = QPainterPath()
    screw.addPolygon(
        QPolygonF(
            [
                QPointF(-0.26, NECK + 0.02),
                QPointF(0.26, NECK + 0.02),
                QPointF(0.20, 0.10),
                QPointF(0.10, 0.04),
                QPointF(-0.10, 0.04),
                QPointF(-0.20, 0.10),
            ]
        )
    )
    screw.closeSubpath()
    threads = QPainterPath()
    y = 0.13
    while y < NECK - 0.02:
        half = 0.20 + (0.26 - 0.20) * (y - 0.10) / (NECK - 0.08) + 0.05
        threads.moveTo(-half, y)
        threads.lineTo(half, y + 0.025)  # a slight slant reads as a thread, not a ladder
        y += 0.065
    fracture = QPainterPath()
    fracture.moveTo(-0.52, 0.70)
    for i, fx in enumerate((-0.26, 0.0, 0.26, 0.52)):
        fracture.lineTo(fx, 0.81 if i % 2 == 0 else 0.69)
    return _Shape(outline, crown, canals, screw, threads, fracture)


# width and height of each kind as a share of its column / silhouette box
_WIDTH = {ToothKind.INCISOR: 0.62, ToothKind.CANINE: 0.64, ToothKind.PREMOLAR: 0.70, ToothKind.MOLAR: 0.92}
_HEIGHT = {ToothKind.INCISOR: 0.93, ToothKind.CANINE: 1.0, ToothKind.PREMOLAR: 0.92, ToothKind.MOLAR: 0.86}
PRIMARY_SCALE = (0.82, 0.78)  # primary teeth are smaller and sit in their successor's column


@dataclass(slots=True)
class _Geo:
    """A tooth's place on screen at the current size."""

    tooth: str
    row: int
    column: int
    cell: QRectF  # the whole column strip of its row: label, silhouette and diagram
    label: QRectF
    sil: QRectF  # the silhouette box
    box: QRectF  # the five-surface diagram
    polygons: dict[str, QPolygonF]
    paths: _Shape  # in widget coordinates
    transform: QTransform
    height: float  # drawn tooth height in pixels
    cx: float


@dataclass(slots=True)
class _Look:
    """How a tooth's base silhouette is drawn, from the marks it carries."""

    faded: bool = False  # missing, or extracted
    root: bool = True  # False for a pontic or an implant (their own drawing replaces it)
    dashed: QColor | None = None  # unerupted or impacted: outline colour
    shift: float = 0.0  # share of its height moved towards the apex (unerupted / impacted)
    tilt: float = 0.0  # degrees (impacted)
    marks: list[ChartMark] = field(default_factory=list)


class Odontogram(QWidget):
    """A full-mouth chart: click teeth and surfaces to select them; shows marks in status colours."""

    tooth_clicked = Signal(str, str, object)  # tooth, surface clicked ("" for the whole tooth), modifiers
    tooth_double_clicked = Signal(str)
    selection_changed = Signal(list)  # [(tooth, surfaces)] in chart order

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("odontogram")
        self.setAccessibleName("Dental chart")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._numbering = Numbering.FDI
        self._dentition = Dentition.PERMANENT
        self._marks: list[ChartMark] = []
        self._looks: dict[str, _Look] = {}
        self._teeth: tuple[str, ...] = ()
        self._slots: dict[tuple[int, int], str] = {}
        self._geo: dict[str, _Geo] = {}
        self._geo_size: QSize | None = None
        self._layer: QPixmap | None = None  # see _render_layer
        self._columns: list[float] = []  # left edge of each column
        self._column_width = 0.0
        self._rows: list[QRectF] = []  # each row's strip
        self._selection: dict[str, set[str]] = {}
        self._highlight: frozenset[str] = frozenset()
        self._focus: str | None = None
        self._anchor: str | None = None  # where a Shift-click range starts
        self._hover: str | None = None
        self._refresh_teeth()

    # --- data ----------------------------------------------------------------------------
    def set_numbering(self, numbering: Numbering) -> None:
        self._numbering = Numbering(numbering)
        self.update()

    def numbering(self) -> Numbering:
        return self._numbering

    def set_dentition(self, dentition: Dentition) -> None:
        self._dentition = Dentition(dentition)
        self._refresh_teeth()

    def dentition(self) -> Dentition:
        return self._dentition

    def set_marks(self, marks: Sequence[ChartMark]) -> None:
        """Replace every mark and repaint."""
        self._marks = [m for m in marks if teeth.is_tooth(m.tooth)]
        looks: dict[str, _Look] = {}
        for m in sorted(self._marks, key=lambda m: _STATUS_RANK.get(m.status, 0)):
            look = looks.setdefault(m.tooth, _Look())
            look.marks.append(m)
            if m.draw == "missing" or (m.draw == "extraction" and m.status == "completed"):
                look.faded = True
            elif m.draw in ("pontic", "implant"):
                look.root = False
            elif m.draw == "unerupted":
                look.dashed, look.shift = mark_colour(m), 0.30
            elif m.draw == "impacted":
                look.dashed, look.shift, look.tilt = mark_colour(m), 0.10, 16.0
        self._looks = looks
        self._refresh_teeth()

    def set_highlight(self, teeth_: Iterable[str]) -> None:
        """Tint some teeth's background, e.g. those of the history row selected elsewhere."""
        self._highlight = frozenset(teeth_)
        self.update()

    def selection(self) -> list[tuple[str, str]]:
        """The selected teeth in chart order, each with its selected surfaces ("" for the whole tooth)."""
        order = {t: i for i, t in enumerate(self._teeth)}
        chosen = sorted(self._selection, key=lambda t: order.get(t, len(order)))
        return [(t, teeth.join_surfaces(self._selection[t])) for t in chosen]

    def clear_selection(self) -> None:
        self._change_selection({})

    def teeth(self) -> tuple[str, ...]:
        """The teeth shown, in display order: the dentition's, plus any marked tooth whose place is free."""
        return self._teeth

    def focused_tooth(self) -> str | None:
        return self._focus

    def _refresh_teeth(self) -> None:
        base = teeth.teeth_for(self._dentition)
        taken = {teeth.display_slot(t) for t in base}
        extra: list[str] = []
        # a tooth charted outside the dentition (a 17 on a mixed chart) must not vanish
        for t in sorted({m.tooth for m in self._marks} - set(base)):
            slot = teeth.display_slot(t)
            if slot not in taken:
                taken.add(slot)
                extra.append(t)
        shown_before = self._teeth
        self._teeth = tuple(sorted((*base, *extra), key=teeth.display_slot))
        self._slots = {teeth.display_slot(t): t for t in self._teeth}
        shown = set(self._teeth)
        if self._focus not in shown:
            self._focus = None
        if self._teeth != shown_before or not self._geo:
            self._geo_size = None  # relayout
        self._layer = None
        if any(t not in shown for t in self._selection):
            self._change_selection({t: s for t, s in self._selection.items() if t in shown})
        self.update()

    # --- geometry ------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1100, 420)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(520, 240)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._ensure_layout()  # grab() of a hidden widget resends its size: only a new size costs

    def _ensure_layout(self) -> None:
        if self._geo_size != self.size():
            self._layout()

    def _layout(self) -> None:
        """Place every column, row and tooth shape for the current size."""
        w, h = float(max(self.width(), 200)), float(max(self.height(), 120))
        pad = 6.0
        midline = max(6.0, w * 0.012)
        col_w = (w - 2 * pad - midline) / 16
        self._column_width = col_w
        self._columns = [pad + c * col_w + (midline if c >= 8 else 0.0) for c in range(16)]
        label_h = QFontMetricsF(self._label_font(False)).height() + 4
        between = max(8.0, h * 0.03)  # the occlusal plane between the rows
        half = (h - 2 * pad - between) / 2
        side = max(12.0, min(col_w * 0.74, half * 0.34))
        gap = max(3.0, half * 0.03)
        sil_h = max(20.0, half - label_h - side - 2 * gap)
        self._rows = [QRectF(0, pad, w, half), QRectF(0, pad + half + between, w, half)]
        geo: dict[str, _Geo] = {}
        for t in self._teeth:
            row, col = teeth.display_slot(t)
            x = self._columns[col]
            strip = self._rows[row]
            cell = QRectF(x, strip.top(), col_w, strip.height())
            if row == 0:
                label = QRectF(x, strip.top(), col_w, label_h)
                sil = QRectF(x, label.bottom(), col_w, sil_h)
                box_top = sil.bottom() + gap
            else:
                label = QRectF(x, strip.bottom() - label_h, col_w, label_h)
                sil = QRectF(x, label.top() - sil_h, col_w, sil_h)
                box_top = strip.top() + gap
            box = QRectF(x + (col_w - side) / 2, box_top, side, side)
            geo[t] = self._tooth_geo(t, row, col, cell, label, sil, box)
        self._geo = geo
        self._geo_size = self.size()
        self._layer = None

    def _tooth_geo(self, t: str, row: int, col: int, cell: QRectF, label: QRectF, sil: QRectF, box: QRectF) -> _Geo:
        k = teeth.kind(t)
        primary = teeth.is_primary(t)
        upper = row == 0
        tw = self._column_width * _WIDTH[k] * (PRIMARY_SCALE[0] if primary else 1.0)
        th = sil.height() * _HEIGHT[k] * (PRIMARY_SCALE[1] if primary else 1.0)
        cx = sil.center().x()
        # the chewing edge sits against the diagram; upper roots point up, lower ones down
        if upper:
            transform = QTransform(tw, 0, 0, th, cx, sil.bottom() - th)
        else:
            transform = QTransform(tw, 0, 0, -th, cx, sil.top() + th)
        unit = _shape(k, upper, teeth.position(t) == 4 and upper and not primary)
        paths = _Shape(*(transform.map(p) for p in unit))
        return _Geo(t, row, col, cell, label, sil, box, self._surface_polygons(t, row, box), paths, transform, th, cx)

    @staticmethod
    def _surface_polygons(t: str, row: int, box: QRectF) -> dict[str, QPolygonF]:
        inset = box.width() * 0.28
        inner = box.adjusted(inset, inset, -inset, -inset)
        o_tl, o_tr, o_bl, o_br = box.topLeft(), box.topRight(), box.bottomLeft(), box.bottomRight()
        i_tl, i_tr, i_bl, i_br = inner.topLeft(), inner.topRight(), inner.bottomLeft(), inner.bottomRight()
        top = QPolygonF([o_tl, o_tr, i_tr, i_tl])
        bottom = QPolygonF([o_bl, o_br, i_br, i_bl])
        left = QPolygonF([o_tl, i_tl, i_bl, o_bl])
        right = QPolygonF([o_tr, o_br, i_br, i_tr])
        # buccal faces out of the mouth (top of the upper row, bottom of the lower), lingual
        # faces the other arch; mesial faces the midline of the screen
        buccal, lingual = (top, bottom) if row == 0 else (bottom, top)
        mesial, distal = (right, left) if teeth.is_right(t) else (left, right)
        return {"O": QPolygonF(inner), "M": mesial, "D": distal, "B": buccal, "L": lingual}

    def tooth_rect(self, tooth: str) -> QRectF:
        """The silhouette box of a shown tooth (clicking it selects the whole tooth); null if not shown."""
        self._ensure_layout()
        g = self._geo.get(tooth)
        return QRectF(g.sil) if g else QRectF()

    def surface_rect(self, tooth: str, surface: Surface | str) -> QRectF:
        """The bounding box of a surface in a shown tooth's diagram; its centre lies inside the surface."""
        self._ensure_layout()
        g = self._geo.get(tooth)
        return g.polygons[Surface(surface).value].boundingRect() if g else QRectF()

    def column_rect(self, row: int, column: int) -> QRectF:
        """The strip of one column in one row (0 upper, 1 lower), whether or not a tooth is shown there."""
        self._ensure_layout()
        strip = self._rows[row]
        return QRectF(self._columns[column], strip.top(), self._column_width, strip.height())

    def tooth_at_slot(self, row: int, column: int) -> str | None:
        return self._slots.get((row, column))

    def label_for_column(self, row: int, column: int) -> str:
        """The tooth number painted over (upper) or under (lower) a column, in the current numbering."""
        t = self._slots.get((row, column))
        return teeth.to_label(t, self._numbering) if t else ""

    def hit(self, pos: QPointF) -> tuple[str, str] | None:
        """(tooth, surface) under a point: surface "" on the silhouette, label or free space of its column."""
        self._ensure_layout()
        for row, strip in enumerate(self._rows):
            if not strip.contains(pos):
                continue
            for col, left in enumerate(self._columns):
                if left <= pos.x() < left + self._column_width:
                    t = self._slots.get((row, col))
                    if t is None:
                        return None
                    g = self._geo[t]
                    if g.box.contains(pos):
                        for s in ("O", "M", "D", "B", "L"):
                            if g.polygons[s].containsPoint(pos, Qt.FillRule.OddEvenFill):
                                return t, s
                    return t, ""
        return None

    # --- painting ----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        self._ensure_layout()
        if self._layer is None:
            self._layer = self._render_layer()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(event.rect(), BACKGROUND)
        dirty = QRectF(event.rect())
        shown = [self._geo[t] for t in self._teeth if self._geo[t].cell.intersects(dirty)]
        for g in shown:
            self._paint_background(p, g)
        p.drawPixmap(0, 0, self._layer)
        normal, bold = self._label_font(False), self._label_font(True)
        for g in shown:
            self._paint_overlay(p, g, normal, bold)
        p.end()

    def _render_layer(self) -> QPixmap:
        """Teeth, diagrams and marks on a transparent pixmap: they change only with size, dentition or marks,
        so hovering and selecting repaint a blit and a few outlines rather than every shape."""
        dpr = self.devicePixelRatioF()
        layer = QPixmap(self.size() * dpr)
        layer.setDevicePixelRatio(dpr)
        layer.fill(Qt.GlobalColor.transparent)
        p = QPainter(layer)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint_guides(p)
        for t in self._teeth:
            g = self._geo[t]
            look = self._looks.get(t) or _Look()
            self._paint_silhouette(p, g, look)
            self._paint_diagram(p, g)
            for m in look.marks:
                self._paint_mark(p, g, m, look)
        p.end()
        return layer

    def _label_font(self, bold: bool) -> QFont:
        font = QFont(self.font())
        font.setBold(bold)
        return font

    def _paint_guides(self, p: QPainter) -> None:
        """The occlusal plane between the rows and the midline between the halves, faintly."""
        p.setPen(QPen(GUIDE_LINE, 1, Qt.PenStyle.DashLine))
        y = (self._rows[0].bottom() + self._rows[1].top()) / 2
        p.drawLine(QPointF(self._columns[0], y), QPointF(self._columns[15] + self._column_width, y))
        x = (self._columns[7] + self._column_width + self._columns[8]) / 2
        p.drawLine(QPointF(x, self._rows[0].top()), QPointF(x, self._rows[1].bottom()))

    def _paint_background(self, p: QPainter, g: _Geo) -> None:
        t = g.tooth
        if t in self._selection:
            background = SELECTED_BG
        elif t in self._highlight:
            background = HIGHLIGHT_BG
        elif t == self._hover:
            background = HOVER_BG
        else:
            return
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(background)
        p.drawRoundedRect(g.cell.adjusted(1, 1, -1, -1), 4, 4)

    def _paint_overlay(self, p: QPainter, g: _Geo, normal: QFont, bold: QFont) -> None:
        """What changes without the teeth changing: the number (in the chosen numbering) and the selection."""
        t = g.tooth
        chosen = self._selection.get(t)
        p.setFont(bold if chosen is not None or t in self._highlight else normal)
        p.setPen(LABEL_TEXT)
        p.drawText(g.label, Qt.AlignmentFlag.AlignCenter, teeth.to_label(t, self._numbering))
        if chosen:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(SELECTED_LINE, 2.4))
            for s in chosen:
                p.drawPolygon(g.polygons[s])
        if t == self._focus and self.hasFocus():
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(SELECTED_LINE, 1, Qt.PenStyle.DotLine))
            p.drawRoundedRect(g.cell.adjusted(1.5, 1.5, -1.5, -1.5), 4, 4)

    def _enter_tooth_frame(self, p: QPainter, g: _Geo, look: _Look) -> None:
        """Move the painter for an unerupted (sunk towards the apex) or impacted (also tilted) tooth."""
        if not look.shift and not look.tilt:
            return
        p.setClipRect(g.sil)
        towards_apex = -1 if g.row == 0 else 1
        p.translate(0, towards_apex * look.shift * g.height)
        if look.tilt:
            centre = g.sil.center()
            p.translate(centre)
            p.rotate(look.tilt if teeth.is_right(g.tooth) == (g.row == 0) else -look.tilt)
            p.translate(-centre)

    def _paint_silhouette(self, p: QPainter, g: _Geo, look: _Look) -> None:
        p.save()
        self._enter_tooth_frame(p, g, look)
        if look.faded:
            p.setOpacity(0.22)
        if look.dashed is not None:
            pen = QPen(look.dashed, 1.4, Qt.PenStyle.DashLine)
            p.setBrush(QColor("#ECEFF1"))
        else:
            pen = QPen(TOOTH_LINE, 1.0)  # a 1px pen takes Qt's fast path: a third of the cost of 1.1
            p.setBrush(TOOTH_FILL)
        p.setPen(pen)
        p.drawPath(g.paths.outline if look.root else g.paths.crown)
        p.restore()

    def _paint_diagram(self, p: QPainter, g: _Geo) -> None:
        box = g.box
        inner = g.polygons["O"].boundingRect()
        p.setPen(QPen(DIAGRAM_LINE, 1))
        p.setBrush(BACKGROUND)
        p.drawRect(box)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(inner)
        p.drawLine(box.topLeft(), inner.topLeft())
        p.drawLine(box.topRight(), inner.topRight())
        p.drawLine(box.bottomLeft(), inner.bottomLeft())
        p.drawLine(box.bottomRight(), inner.bottomRight())

    def _fill_surfaces(self, p: QPainter, g: _Geo, surfaces: str, brush: QBrush | QColor, line: QColor) -> None:
        p.setPen(QPen(line, 1.0))
        p.setBrush(brush)
        for s in surfaces:
            polygon = g.polygons.get(s)
            if polygon is not None:
                p.drawPolygon(polygon)

    def _paint_mark(self, p: QPainter, g: _Geo, m: ChartMark, look: _Look) -> None:
        c = mark_colour(m)
        key = m.draw
        surfaces = "".join(s for s in m.surfaces.upper() if s in "MODBL")
        stroke = max(2.0, self._column_width * 0.045)
        if key == "filling":
            self._fill_surfaces(p, g, surfaces or "O", c, c.darker(130))
        elif key == "caries":
            # a hatch over a faint tint: decay, not a restoration, even to a colour-blind eye
            tint = QColor(c)
            tint.setAlpha(55)
            hatch = QBrush(c, Qt.BrushStyle.DiagCrossPattern)
            if surfaces:
                self._fill_surfaces(p, g, surfaces, tint, c)
                self._fill_surfaces(p, g, surfaces, hatch, c)
            else:
                self._on_tooth(p, g, look, lambda: self._draw_path(p, g.paths.crown, tint, hatch, QPen(c, 1.3)))
        elif key == "sealant":
            tint = QColor(c)
            tint.setAlpha(50)
            self._fill_surfaces(p, g, surfaces or "O", tint, c)
            self._fill_surfaces(p, g, surfaces or "O", QBrush(c, Qt.BrushStyle.Dense5Pattern), c)
        elif key == "veneer":
            self._fill_surfaces(p, g, surfaces or "B", c, c.darker(130))
        elif key in ("crown", "abutment", "pontic"):
            fill = QColor(c)
            fill.setAlpha(210)  # strong enough that a tinted blue crown is not read as lavender (referred)
            pen = QPen(c, stroke * 0.9, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
            self._on_tooth(p, g, look, lambda: self._draw_path(p, g.paths.crown, fill, None, pen))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(c, 2.0))
            p.drawRect(g.box)
            if key != "crown":
                self._paint_bar(p, g, c, stroke)
        elif key == "bridge":
            self._paint_bar(p, g, c, stroke)
        elif key == "implant":
            fill = QColor(c)
            fill.setAlpha(70)
            threads = QPen(c, max(1.2, stroke * 0.5))
            self._on_tooth(
                p,
                g,
                look,
                lambda: (
                    self._draw_path(p, g.paths.screw, fill, None, QPen(c, 1.4)),
                    self._draw_path(p, g.paths.threads, None, None, threads),
                ),
            )
        elif key == "root_canal":
            pen = QPen(c, stroke, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
            self._on_tooth(p, g, look, lambda: self._draw_path(p, g.paths.canals, None, None, pen))
        elif key == "fracture":
            pen = QPen(c, stroke * 0.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.MiterJoin)
            self._on_tooth(p, g, look, lambda: self._draw_path(p, g.paths.fracture, None, None, pen))
        elif key in ("missing", "extraction"):
            self._paint_cross(p, g, c, stroke)
        elif key == "impacted":
            self._paint_arrow(p, g, c, stroke)
        elif key == "watch":
            self._paint_badge(p, g, c, "W", 0)
        elif key != "unerupted":  # unerupted is all in the silhouette; anything else is a tag
            if surfaces:
                tint = QColor(c)
                tint.setAlpha(90)
                self._fill_surfaces(p, g, surfaces, tint, c)
            index = sum(1 for other in look.marks[: look.marks.index(m)] if other.draw not in _KNOWN_KEYS)
            self._paint_badge(p, g, c, m.label or "•", index + (1 if _has_watch(look) else 0))

    def _on_tooth(self, p: QPainter, g: _Geo, look: _Look, draw) -> None:  # type: ignore[no-untyped-def]
        """Run a drawing in the tooth's own frame, so it follows an unerupted or impacted tooth."""
        p.save()
        self._enter_tooth_frame(p, g, look)
        draw()
        p.restore()

    @staticmethod
    def _draw_path(p: QPainter, path: QPainterPath, fill: QColor | None, hatch: QBrush | None, pen: QPen) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        if fill is not None:
            p.setBrush(fill)
            p.drawPath(path)
        if hatch is not None:
            p.setBrush(hatch)
            p.drawPath(path)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(pen)
        p.drawPath(path)

    def _paint_bar(self, p: QPainter, g: _Geo, c: QColor, stroke: float) -> None:
        """Half a bar towards each neighbour that is part of the bridge too, so the halves join up."""
        y = g.transform.map(QPointF(0.0, BAR_Y)).y()
        p.setPen(QPen(c, stroke * 1.2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        reach = self._column_width * 0.42
        left, right = g.cx - reach, g.cx + reach
        for step in (-1, 1):
            other = self._neighbour(g, step)
            if other is not None and any(m.draw in _BAR_KEYS for m in self._looks.get(other, _Look()).marks):
                end = (g.cx + self._geo[other].cx) / 2
                left, right = (min(left, end), right) if step < 0 else (left, max(right, end))
        p.drawLine(QPointF(left, y), QPointF(right, y))

    def _neighbour(self, g: _Geo, step: int) -> str | None:
        col = g.column + step
        while 0 <= col < 16:
            t = self._slots.get((g.row, col))
            if t is not None:
                return t
            col += step
        return None

    def _paint_cross(self, p: QPainter, g: _Geo, c: QColor, stroke: float) -> None:
        r = g.sil.adjusted(self._column_width * 0.10, g.sil.height() * 0.05, -self._column_width * 0.10, 0)
        if g.row == 1:
            r = g.sil.adjusted(self._column_width * 0.10, 0, -self._column_width * 0.10, -g.sil.height() * 0.05)
        p.setPen(QPen(c, stroke * 1.3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLine(r.topLeft(), r.bottomRight())
        p.drawLine(r.topRight(), r.bottomLeft())

    def _paint_arrow(self, p: QPainter, g: _Geo, c: QColor, stroke: float) -> None:
        """A small arrow pointing the way the tooth should erupt, beside it."""
        size = min(self._column_width * 0.22, g.sil.height() * 0.18)
        x = g.sil.right() - size * 0.7
        towards_occlusal = 1 if g.row == 0 else -1
        y_mid = g.sil.center().y()
        tip = QPointF(x, y_mid + towards_occlusal * size)
        tail = QPointF(x, y_mid - towards_occlusal * size)
        p.setPen(QPen(c, stroke * 0.7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawLine(tail, tip)
        back = -towards_occlusal * size * 0.5
        p.drawPolyline(
            QPolygonF([QPointF(x - size * 0.45, tip.y() + back), tip, QPointF(x + size * 0.45, tip.y() + back)])
        )

    def _paint_badge(self, p: QPainter, g: _Geo, c: QColor, text: str, index: int) -> None:
        """A small rounded tag with a letter or code, stacked from the root end of the silhouette."""
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.72))
        font.setBold(True)
        fm = QFontMetricsF(font)
        text = text[:6]
        h = fm.height() + 1
        w = min(self._column_width - 4, max(h, fm.horizontalAdvance(text) + 6))
        step = h + 2
        y = g.sil.top() + 2 + index * step if g.row == 0 else g.sil.bottom() - 2 - h - index * step
        rect = QRectF(g.cx - w / 2, y, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(c)
        p.drawRoundedRect(rect, h / 2, h / 2)
        p.setFont(font)
        p.setPen(QColor("#FFFFFF"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, fm.elidedText(text, Qt.TextElideMode.ElideRight, w - 2))

    # --- tooltips --------------------------------------------------------------------------------
    def tooltip_for(self, tooth: str) -> str:
        """The hover text of a tooth: its number and name, then each mark's surfaces, label and status."""
        lines = [f"Tooth {teeth.to_label(tooth, self._numbering)} — {tooth_name(tooth)}"]
        for m in self._looks.get(tooth, _Look()).marks:
            stored = teeth.join_surfaces(s for s in m.surfaces.upper() if s in "MODBL")
            where = teeth.surfaces_label(stored, tooth) if stored else ""
            what = m.label or m.draw.replace("_", " ").capitalize() or "Mark"
            lines.append(f"• {where + ' ' if where else ''}{what} ({m.status})")
        return "\n".join(lines)

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip and isinstance(e, QHelpEvent):
            found = self.hit(QPointF(e.pos()))
            if found is None:
                QToolTip.hideText()
                e.ignore()
            else:
                QToolTip.showText(e.globalPos(), self.tooltip_for(found[0]), self, self._geo[found[0]].cell.toRect())
            return True
        return super().event(e)

    # --- selection ---------------------------------------------------------------------------
    def _change_selection(self, new: dict[str, set[str]]) -> None:
        if new == self._selection:
            return
        self._selection = new
        self.update()
        self.selection_changed.emit(self.selection())

    def _click(self, tooth: str, surface: str, modifiers: Qt.KeyboardModifier) -> None:
        ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        new = {t: set(s) for t, s in self._selection.items()}
        anchor = self._anchor
        if shift and anchor in self._geo and self._geo[anchor].row == self._geo[tooth].row:
            # a range along the row, for a bridge or a quadrant; Ctrl+Shift adds it to the rest
            low, high = sorted((self._geo[anchor].column, self._geo[tooth].column))
            row = self._geo[tooth].row
            if not ctrl:
                new = {}
            for col in range(low, high + 1):
                t = self._slots.get((row, col))
                if t is not None:
                    new[t] = set()
        elif ctrl:
            current = new.get(tooth)
            if not surface:
                if current is None:
                    new[tooth] = set()
                else:
                    del new[tooth]
            elif not current:  # not selected, or selected whole: start a surface set
                new[tooth] = {surface}
            elif surface in current:
                current.discard(surface)
                if not current:
                    del new[tooth]
            else:
                current.add(surface)
            self._anchor = tooth
        else:
            new = {tooth: {surface} if surface else set()}
            self._anchor = tooth
        self._set_focus_tooth(tooth)
        self._change_selection(new)

    def _set_focus_tooth(self, tooth: str | None) -> None:
        if tooth != self._focus:
            self._focus = tooth
            self.update()

    # --- mouse and keys ----------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if e.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(e)
        found = self.hit(e.position())
        modifiers = e.modifiers()
        if found is None:
            if not modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
                self.clear_selection()
            return
        tooth, surface = found
        self._click(tooth, surface, modifiers)
        self.tooth_clicked.emit(tooth, surface, modifiers)

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        found = self.hit(e.position())
        if e.button() == Qt.MouseButton.LeftButton and found is not None:
            self.tooth_double_clicked.emit(found[0])

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        found = self.hit(e.position())
        self._set_hover(found[0] if found else None)

    def leaveEvent(self, e: QEvent) -> None:  # noqa: N802 - Qt override
        self._set_hover(None)
        super().leaveEvent(e)

    def _set_hover(self, tooth: str | None) -> None:
        if tooth == self._hover:
            return
        for t in (self._hover, tooth):
            if t in self._geo:
                self.update(self._geo[t].cell.toAlignedRect())
        self._hover = tooth

    def focusInEvent(self, e: QFocusEvent) -> None:  # noqa: N802 - Qt override
        super().focusInEvent(e)
        self.update()

    def focusOutEvent(self, e: QFocusEvent) -> None:  # noqa: N802 - Qt override
        super().focusOutEvent(e)
        self.update()

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = e.key()
        moves = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0)}
        if key in moves:
            target = self._step_focus(*moves[key])
            if target is not None:
                self._set_focus_tooth(target)
                if e.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                    self._change_selection({**self._selection, target: self._selection.get(target, set())})
        elif key == Qt.Key.Key_Space and self._focus:
            self._click(self._focus, "", Qt.KeyboardModifier.ControlModifier)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._focus:
            self.tooth_double_clicked.emit(self._focus)
        elif key == Qt.Key.Key_Escape and self._selection:
            self.clear_selection()
        else:
            super().keyPressEvent(e)

    def _step_focus(self, rows: int, cols: int) -> str | None:
        """The tooth an arrow key moves to: the next one along the row, or the nearest across."""
        if not self._teeth:
            return None
        if self._focus is None:
            return self._teeth[0]
        row, col = teeth.display_slot(self._focus)
        if cols:
            c = col + cols
            while 0 <= c < 16:
                if (row, c) in self._slots:
                    return self._slots[(row, c)]
                c += cols
            return None
        target_row = row + rows
        if target_row not in (0, 1):
            return None
        across = [(abs(c - col), c) for (r, c) in self._slots if r == target_row]
        return self._slots[(target_row, min(across)[1])] if across else None


_KNOWN_KEYS = frozenset(
    {"missing", "impacted", "unerupted", "implant", "crown", "abutment", "pontic", "bridge", "root_canal"}
    | {"caries", "filling", "fracture", "watch", "sealant", "veneer", "extraction"}
)


def _has_watch(look: _Look) -> bool:
    return any(m.draw == "watch" for m in look.marks)
