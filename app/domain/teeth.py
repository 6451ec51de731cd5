"""Tooth identity, the three numbering systems, mixed dentition, surfaces and furcation sites.

Every tooth is stored and passed around as its FDI / ISO 3950 two-digit id: the first digit is
the quadrant (1 upper right, 2 upper left, 3 lower left, 4 lower right; 5..8 the same for
primary teeth), the second the position counted from the midline. "Right" and "left" are the
patient's, so the patient's right appears on the left of the screen, as when facing them.
Universal and Palmer numbers exist only at the edges: `to_label` for display, `parse_tooth`
for typed input.
"""

from collections.abc import Iterable
from enum import StrEnum

from app.domain.errors import UserError


class Arch(StrEnum):
    UPPER = "upper"
    LOWER = "lower"


class ToothKind(StrEnum):
    INCISOR = "incisor"
    CANINE = "canine"
    PREMOLAR = "premolar"
    MOLAR = "molar"


class Numbering(StrEnum):
    UNIVERSAL = "universal"
    FDI = "fdi"
    PALMER = "palmer"

    @property
    def label(self) -> str:
        """The name a clinician picks from in settings."""
        return _NUMBERING_LABELS[self]


_NUMBERING_LABELS = {
    Numbering.UNIVERSAL: "Universal (US)",
    Numbering.FDI: "FDI / ISO 3950",
    Numbering.PALMER: "Palmer",
}


def _row(quadrant_right: int, quadrant_left: int, count: int) -> tuple[str, ...]:
    """One arch on screen: the patient's right quadrant from the back to the midline, then the left outwards."""
    right = tuple(f"{quadrant_right}{p}" for p in range(count, 0, -1))
    left = tuple(f"{quadrant_left}{p}" for p in range(1, count + 1))
    return right + left


PERMANENT: tuple[str, ...] = _row(1, 2, 8) + _row(4, 3, 8)
PRIMARY: tuple[str, ...] = _row(5, 6, 5) + _row(8, 7, 5)
ALL_TEETH: tuple[str, ...] = PERMANENT + PRIMARY
_ALL = frozenset(ALL_TEETH)
_PRIMARY = frozenset(PRIMARY)


def is_tooth(t: str) -> bool:
    """True for any FDI id of a permanent or primary tooth."""
    return t in _ALL


def _check(t: str) -> str:
    # an unknown id here is a programming error: typed input goes through parse_tooth
    if t not in _ALL:
        raise ValueError(f"Not an FDI tooth id: {t!r}")
    return t


def is_primary(t: str) -> bool:
    """True for a primary (deciduous, "baby") tooth."""
    return _check(t) in _PRIMARY


def quadrant(t: str) -> int:
    """1 upper right, 2 upper left, 3 lower left, 4 lower right; primary teeth map onto the same four."""
    q = int(_check(t)[0])
    return q - 4 if q > 4 else q


def arch(t: str) -> Arch:
    return Arch.UPPER if quadrant(t) in (1, 2) else Arch.LOWER


def position(t: str) -> int:
    """Place counted from the midline: 1 central incisor .. 8 third molar (5 second primary molar)."""
    return int(_check(t)[1])


def is_right(t: str) -> bool:
    """On the patient's right, which is the left half of the chart on screen."""
    return quadrant(t) in (1, 4)


def kind(t: str) -> ToothKind:
    p = position(t)
    if p <= 2:
        return ToothKind.INCISOR
    if p == 3:
        return ToothKind.CANINE
    # primary teeth have no premolars: their 4 and 5 are the molars the premolars replace
    if p <= 5 and not is_primary(t):
        return ToothKind.PREMOLAR
    return ToothKind.MOLAR


def is_anterior(t: str) -> bool:
    """Incisors and canines: their chewing edge is incisal and their outer face facial."""
    return position(t) <= 3


# --- numbering -------------------------------------------------------------------------------

# Universal runs 1..16 across the upper arch from the patient's right, then 17..32 back along
# the lower arch from the patient's left; the primary letters A..T follow the same path.
_UNIVERSAL_PERMANENT = _row(1, 2, 8) + tuple(reversed(_row(4, 3, 8)))
_UNIVERSAL_PRIMARY = _row(5, 6, 5) + tuple(reversed(_row(8, 7, 5)))
_TO_UNIVERSAL = {t: str(i) for i, t in enumerate(_UNIVERSAL_PERMANENT, start=1)} | {
    t: chr(ord("A") + i) for i, t in enumerate(_UNIVERSAL_PRIMARY)
}
_FROM_UNIVERSAL = {label: t for t, label in _TO_UNIVERSAL.items()}

_PRIMARY_LETTERS = "ABCDE"
# Palmer's grid symbol: the corner points at the midline and the occlusal plane
_PALMER_RIGHT = {1: "┘", 4: "┐"}  # written after the number
_PALMER_LEFT = {2: "└", 3: "┌"}  # written before it
_PALMER_ASCII = {"UR": 1, "UL": 2, "LL": 3, "LR": 4}


def to_label(t: str, numbering: Numbering) -> str:
    """How a tooth is written in a numbering system: 16 is "3" (Universal), "16" (FDI), "6┘" (Palmer)."""
    _check(t)
    numbering = Numbering(numbering)  # a plain setting string works too
    if numbering == Numbering.FDI:
        return t
    if numbering == Numbering.UNIVERSAL:
        return _TO_UNIVERSAL[t]
    p = position(t)
    mark = _PRIMARY_LETTERS[p - 1] if is_primary(t) else str(p)
    q = quadrant(t)
    return mark + _PALMER_RIGHT[q] if q in _PALMER_RIGHT else _PALMER_LEFT[q] + mark


_RANGES = {
    Numbering.UNIVERSAL: "1–32, A–T",
    Numbering.FDI: "11–48, 51–85",
    Numbering.PALMER: "1–8 or A–E with a quadrant, e.g. 6┘, └E or UR6",
}


def _no_tooth(label: str, numbering: Numbering) -> UserError:
    if not label:
        return UserError(f"Enter a tooth number ({_RANGES[numbering]}).")
    name = "FDI" if numbering == Numbering.FDI else numbering.label.split(" ")[0]
    return UserError(f'No tooth "{label}" in {name} numbering ({_RANGES[numbering]}).')


def _palmer(text: str) -> str | None:
    """FDI id for a Palmer label in grid-symbol or ASCII (UR6, LLE) form, or None."""
    q: int | None = None
    mark = ""
    if text[:2] in _PALMER_ASCII:
        q, mark = _PALMER_ASCII[text[:2]], text[2:]
    elif text[-1:] in ("┘", "┐"):
        q, mark = (1 if text[-1] == "┘" else 4), text[:-1]
    elif text[:1] in ("└", "┌"):
        q, mark = (2 if text[0] == "└" else 3), text[1:]
    if q is None or len(mark) != 1:
        return None
    if mark in "12345678":
        t = f"{q}{mark}"
    elif mark in _PRIMARY_LETTERS:
        t = f"{q + 4}{_PRIMARY_LETTERS.index(mark) + 1}"
    else:
        return None
    return t if t in _ALL else None


def parse_tooth(label: str, numbering: Numbering) -> str:
    """The FDI id for a tooth typed in a numbering system; letters in any case, spaces ignored."""
    numbering = Numbering(numbering)
    text = "".join(label.split()).upper()
    t: str | None
    if numbering == Numbering.FDI:
        t = text if text in _ALL else None
    elif numbering == Numbering.UNIVERSAL:
        # "03" is 3: some printed charts pad the number
        key = str(int(text)) if text.isascii() and text.isdigit() else text
        t = _FROM_UNIVERSAL.get(key)
    else:
        t = _palmer(text)
    if t is None:
        raise _no_tooth("".join(label.split()), numbering)
    return t


def convert(label: str, from_numbering: Numbering, to_numbering: Numbering) -> str:
    """A typed tooth label rewritten in another numbering system."""
    return to_label(parse_tooth(label, from_numbering), to_numbering)


# --- dentition -------------------------------------------------------------------------------


class Dentition(StrEnum):
    PERMANENT = "permanent"
    PRIMARY = "primary"
    MIXED = "mixed"


def display_slot(t: str) -> tuple[int, int]:
    """(row, column) on the chart: row 0 upper, 1 lower; column 0..15 left to right on screen.

    A primary tooth takes the column of the permanent tooth that replaces it, so a mixed
    chart lines 55 up with 15 and a growing child's chart keeps its shape.
    """
    p = position(t)
    return (0 if arch(t) == Arch.UPPER else 1, 8 - p if is_right(t) else 7 + p)


def _display_order(teeth: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(teeth, key=display_slot))


# the usual chart of a child of about 8-10: first molars and incisors erupted, primary canines and molars kept
_MIXED = _display_order(
    ["16", "26", "36", "46", "11", "12", "21", "22", "31", "32", "41", "42"]
    + [f"{q}{p}" for q in (5, 6, 7, 8) for p in (3, 4, 5)]
)

DENTITION_PRESETS: dict[Dentition, tuple[str, ...]] = {
    Dentition.PERMANENT: PERMANENT,
    Dentition.PRIMARY: PRIMARY,
    Dentition.MIXED: _MIXED,
}


def teeth_for(dentition: Dentition) -> tuple[str, ...]:
    """The teeth a chart shows for a dentition, in display order."""
    return DENTITION_PRESETS[Dentition(dentition)]


def primary_successor(t: str) -> str:
    """The permanent tooth that replaces a primary one: 51 -> 11, 85 -> 45."""
    if not is_primary(t):
        raise ValueError(f"{t} is not a primary tooth")
    return f"{int(t[0]) - 4}{t[1]}"


def primary_predecessor(t: str) -> str | None:
    """The primary tooth a permanent one replaces (15 -> 55), or None for molars, which erupt behind."""
    if is_primary(t) or position(t) > 5:
        return None
    return f"{int(t[0]) + 4}{t[1]}"


# --- surfaces --------------------------------------------------------------------------------


class Surface(StrEnum):
    M = "M"  # mesial: towards the midline
    O = "O"  # occlusal; incisal ("I") on anterior teeth  # noqa: E741
    D = "D"  # distal
    B = "B"  # buccal; facial ("F") on anterior teeth
    L = "L"  # lingual (palatal on upper teeth)


_STORAGE_ORDER = "MODBL"
# "DO" rather than "OD": a distal box is named first, as a mesial one is in "MO"
_DISTAL_FIRST_ORDER = "DOBL"
_ALIASES = {"I": "O", "F": "B"}


def surface_label(s: Surface, t: str) -> str:
    """The letter shown for a surface: O is "I" and B is "F" on incisors and canines."""
    s = Surface(s)
    if is_anterior(t):
        if s == Surface.O:
            return "I"
        if s == Surface.B:
            return "F"
    return s.value


def join_surfaces(surfaces: Iterable[Surface | str]) -> str:
    """The canonical storage string for a set of surfaces ("MOD", "DO", "OB"); empty for none."""
    present = {Surface(s).value for s in surfaces}
    order = _DISTAL_FIRST_ORDER if "D" in present and "M" not in present else _STORAGE_ORDER
    return "".join(c for c in order if c in present)


def split_surfaces(stored: str) -> tuple[Surface, ...]:
    """The surfaces of a stored string, in its order."""
    return tuple(Surface(c) for c in stored)


def parse_surfaces(text: str, t: str) -> str:
    """Canonical storage string for typed surfaces: any order or case, I read as O and F as B.

    Both letter sets are accepted on every tooth, as clinicians mix them ("MO" on a canine).
    Spaces, commas and slashes are ignored; an unknown letter is refused by name.
    """
    _check(t)
    found: set[str] = set()
    for ch in text.upper():
        if ch.isspace() or ch in ",/+-":
            continue
        c = _ALIASES.get(ch, ch)
        if c not in _STORAGE_ORDER:
            raise UserError(f'"{ch}" is not a tooth surface: use M, O or I, D, B or F, and L.')
        found.add(c)
    if not found:
        raise UserError("Enter at least one surface: M, O or I, D, B or F, and L.")
    return join_surfaces(found)


def surfaces_label(stored: str, t: str) -> str:
    """A stored surface string as shown on a tooth: "MOD" on 11 reads "MID"."""
    return "".join(surface_label(s, t) for s in split_surfaces(stored))


# --- furcations ------------------------------------------------------------------------------

# where roots divide: three-rooted upper molars open buccally and at both palatal corners,
# two-rooted upper first premolars mesially and distally (read from the palate), lower molars
# between their mesial and distal roots on both sides
_UPPER_MOLAR_FURCATIONS = frozenset({"B", "ML", "DL"})
_UPPER_PREMOLAR_FURCATIONS = frozenset({"ML", "DL"})
_LOWER_MOLAR_FURCATIONS = frozenset({"B", "L"})
_NONE: frozenset[str] = frozenset()
FURCATION_ORDER = ("B", "L", "ML", "DL")  # how furcation sites are listed in messages


def furcation_sites(t: str) -> frozenset[str]:
    """Perio sites at which a furcation can be charted on a tooth; empty for most teeth."""
    if is_primary(t):
        return _NONE
    p, upper = position(t), arch(t) == Arch.UPPER
    if p >= 6:
        return _UPPER_MOLAR_FURCATIONS if upper else _LOWER_MOLAR_FURCATIONS
    if p == 4 and upper:
        return _UPPER_PREMOLAR_FURCATIONS
    return _NONE
