"""Tooth numbering as a dentist reads it: Universal, FDI and Palmer, mixed dentition, surfaces, furcations."""

import pytest

from app.domain.errors import UserError
from app.domain.teeth import (
    ALL_TEETH,
    PERMANENT,
    PRIMARY,
    Arch,
    Dentition,
    Numbering,
    Surface,
    ToothKind,
    arch,
    convert,
    display_slot,
    furcation_sites,
    is_anterior,
    is_primary,
    is_right,
    is_tooth,
    kind,
    parse_surfaces,
    parse_tooth,
    position,
    primary_predecessor,
    primary_successor,
    quadrant,
    surface_label,
    surfaces_label,
    teeth_for,
    to_label,
)

U, F, P = Numbering.UNIVERSAL, Numbering.FDI, Numbering.PALMER

# Every tooth written out by hand: (FDI, Universal, Palmer). Universal counts 1..16 along the
# upper arch from the patient's right third molar, then 17..32 back along the lower arch from
# the patient's left third molar; primary teeth run A..T along the same path.
TABLE = [
    ("18", "1", "8┘"),
    ("17", "2", "7┘"),
    ("16", "3", "6┘"),
    ("15", "4", "5┘"),
    ("14", "5", "4┘"),
    ("13", "6", "3┘"),
    ("12", "7", "2┘"),
    ("11", "8", "1┘"),
    ("21", "9", "└1"),
    ("22", "10", "└2"),
    ("23", "11", "└3"),
    ("24", "12", "└4"),
    ("25", "13", "└5"),
    ("26", "14", "└6"),
    ("27", "15", "└7"),
    ("28", "16", "└8"),
    ("38", "17", "┌8"),
    ("37", "18", "┌7"),
    ("36", "19", "┌6"),
    ("35", "20", "┌5"),
    ("34", "21", "┌4"),
    ("33", "22", "┌3"),
    ("32", "23", "┌2"),
    ("31", "24", "┌1"),
    ("41", "25", "1┐"),
    ("42", "26", "2┐"),
    ("43", "27", "3┐"),
    ("44", "28", "4┐"),
    ("45", "29", "5┐"),
    ("46", "30", "6┐"),
    ("47", "31", "7┐"),
    ("48", "32", "8┐"),
    ("55", "A", "E┘"),
    ("54", "B", "D┘"),
    ("53", "C", "C┘"),
    ("52", "D", "B┘"),
    ("51", "E", "A┘"),
    ("61", "F", "└A"),
    ("62", "G", "└B"),
    ("63", "H", "└C"),
    ("64", "I", "└D"),
    ("65", "J", "└E"),
    ("75", "K", "┌E"),
    ("74", "L", "┌D"),
    ("73", "M", "┌C"),
    ("72", "N", "┌B"),
    ("71", "O", "┌A"),
    ("81", "P", "A┐"),
    ("82", "Q", "B┐"),
    ("83", "R", "C┐"),
    ("84", "S", "D┐"),
    ("85", "T", "E┐"),
]


def test_the_table_covers_all_52_teeth_once() -> None:
    assert len(TABLE) == 52
    assert sorted(fdi for fdi, _, _ in TABLE) == sorted(ALL_TEETH)


def test_chart_order_runs_across_the_upper_arch_then_the_lower_from_the_patients_right() -> None:
    assert PERMANENT[:8] == ("18", "17", "16", "15", "14", "13", "12", "11")
    assert PERMANENT[8:16] == ("21", "22", "23", "24", "25", "26", "27", "28")
    assert PERMANENT[16:24] == ("48", "47", "46", "45", "44", "43", "42", "41")
    assert PERMANENT[24:] == ("31", "32", "33", "34", "35", "36", "37", "38")
    assert PRIMARY == (
        *("55", "54", "53", "52", "51", "61", "62", "63", "64", "65"),
        *("85", "84", "83", "82", "81", "71", "72", "73", "74", "75"),
    )
    assert ALL_TEETH == PERMANENT + PRIMARY


@pytest.mark.parametrize(("fdi", "universal", "palmer"), TABLE)
def test_every_tooth_has_its_hand_written_label_in_each_system(fdi: str, universal: str, palmer: str) -> None:
    assert to_label(fdi, U) == universal
    assert to_label(fdi, F) == fdi
    assert to_label(fdi, P) == palmer
    assert parse_tooth(universal, U) == fdi
    assert parse_tooth(fdi, F) == fdi
    assert parse_tooth(palmer, P) == fdi


@pytest.mark.parametrize(("fdi", "universal", "palmer"), TABLE)
def test_every_tooth_converts_between_all_three_systems_and_back(fdi: str, universal: str, palmer: str) -> None:
    labels = {U: universal, F: fdi, P: palmer}
    for source, label in labels.items():
        for target, expected in labels.items():
            assert convert(label, source, target) == expected
            assert convert(expected, target, source) == label


def test_spot_checks_a_dentist_knows_by_heart() -> None:
    assert convert("3", U, F) == "16"
    assert convert("3", U, P) == "6┘"
    assert convert("19", U, F) == "36"
    assert convert("19", U, P) == "┌6"
    assert convert("K", U, F) == "75"
    assert convert("E┘", P, F) == "55"
    assert convert("E┘", P, U) == "A"
    assert [convert(n, U, F) for n in ("8", "9", "24", "25")] == ["11", "21", "31", "41"]
    assert [convert(n, U, F) for n in ("1", "16", "17", "32")] == ["18", "28", "38", "48"]


def test_typing_is_forgiving_about_case_spaces_and_ascii_palmer() -> None:
    assert parse_tooth(" k ", U) == "75"
    assert parse_tooth("t", U) == "85"
    assert parse_tooth("03", U) == "16"
    assert parse_tooth(" 36 ", F) == "36"
    assert parse_tooth("UR8", P) == "18"
    assert parse_tooth("ul8", P) == "28"
    assert parse_tooth("LR8", P) == "48"
    assert parse_tooth("LL8", P) == "38"
    assert parse_tooth("URE", P) == "55"
    assert parse_tooth("lla", P) == "71"
    assert parse_tooth("ur 6", P) == "16"
    assert parse_tooth("e ┘", P) == "55"


@pytest.mark.parametrize(
    ("label", "numbering", "message"),
    [
        ("33", U, 'No tooth "33" in Universal numbering (1–32, A–T).'),
        ("0", U, 'No tooth "0" in Universal numbering (1–32, A–T).'),
        ("U", U, 'No tooth "U" in Universal numbering (1–32, A–T).'),
        ("16┘", U, 'No tooth "16┘" in Universal numbering (1–32, A–T).'),
        ("19", F, 'No tooth "19" in FDI numbering (11–48, 51–85).'),
        ("56", F, 'No tooth "56" in FDI numbering (11–48, 51–85).'),
        ("3", F, 'No tooth "3" in FDI numbering (11–48, 51–85).'),
        ("9┘", P, 'No tooth "9┘" in Palmer numbering (1–8 or A–E with a quadrant, e.g. 6┘, └E or UR6).'),
        ("F┘", P, 'No tooth "F┘" in Palmer numbering (1–8 or A–E with a quadrant, e.g. 6┘, └E or UR6).'),
        ("UR9", P, 'No tooth "UR9" in Palmer numbering (1–8 or A–E with a quadrant, e.g. 6┘, └E or UR6).'),
        ("6", P, 'No tooth "6" in Palmer numbering (1–8 or A–E with a quadrant, e.g. 6┘, └E or UR6).'),
        ("", U, "Enter a tooth number (1–32, A–T)."),
        ("  ", F, "Enter a tooth number (11–48, 51–85)."),
    ],
)
def test_a_label_that_names_no_tooth_is_refused_with_the_valid_range(
    label: str, numbering: Numbering, message: str
) -> None:
    with pytest.raises(UserError) as caught:
        parse_tooth(label, numbering)
    assert str(caught.value) == message


def test_numbering_names_in_settings() -> None:
    assert [n.label for n in Numbering] == ["Universal (US)", "FDI / ISO 3950", "Palmer"]
    assert Numbering("universal") is U
    # the clinic setting is stored as plain text
    assert to_label("16", "palmer") == "6┘"  # type: ignore[arg-type]
    assert parse_tooth("33", "fdi") == "33"  # type: ignore[arg-type]


def test_tooth_anatomy() -> None:
    assert is_tooth("16") and is_tooth("85")
    assert not is_tooth("19") and not is_tooth("56") and not is_tooth("3")
    assert is_primary("55") and not is_primary("15")
    assert [quadrant(t) for t in ("16", "26", "36", "46", "55", "65", "75", "85")] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert (arch("26"), arch("36"), arch("65"), arch("85")) == (Arch.UPPER, Arch.LOWER, Arch.UPPER, Arch.LOWER)
    assert (position("18"), position("55")) == (8, 5)
    assert (is_right("16"), is_right("46"), is_right("84"), is_right("26"), is_right("36")) == (
        True,
        True,
        True,
        False,
        False,
    )
    assert kind("11") == kind("42") == kind("52") == ToothKind.INCISOR
    assert kind("13") == kind("53") == ToothKind.CANINE
    assert kind("14") == kind("35") == ToothKind.PREMOLAR
    # the primary first and second molars sit where the premolars will come
    assert kind("54") == kind("85") == kind("16") == kind("38") == ToothKind.MOLAR
    assert is_anterior("13") and is_anterior("41") and is_anterior("63")
    assert not is_anterior("14") and not is_anterior("64")


def test_an_unknown_id_in_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        quadrant("19")


# --- mixed dentition ---------------------------------------------------------------------------


def test_a_mixed_chart_has_24_teeth_in_display_order() -> None:
    assert teeth_for(Dentition.MIXED) == (
        *("16", "55", "54", "53", "12", "11", "21", "22", "63", "64", "65", "26"),
        *("46", "85", "84", "83", "42", "41", "31", "32", "73", "74", "75", "36"),
    )
    assert teeth_for(Dentition.PERMANENT) == PERMANENT
    assert teeth_for(Dentition.PRIMARY) == PRIMARY


def test_a_primary_tooth_sits_in_the_column_of_its_successor() -> None:
    assert display_slot("18") == (0, 0)
    assert display_slot("11") == (0, 7)
    assert display_slot("21") == (0, 8)
    assert display_slot("28") == (0, 15)
    assert display_slot("48") == (1, 0)
    assert display_slot("38") == (1, 15)
    assert display_slot("55") == display_slot("15") == (0, 3)
    assert display_slot("54") == display_slot("14") == (0, 4)
    assert display_slot("53") == display_slot("13") == (0, 5)
    assert display_slot("65") == display_slot("25") == (0, 12)
    assert display_slot("85") == display_slot("45") == (1, 3)
    assert display_slot("73") == display_slot("33") == (1, 10)
    mixed = teeth_for(Dentition.MIXED)
    assert len({display_slot(t) for t in mixed}) == 24


def test_successors_and_predecessors() -> None:
    assert [primary_successor(t) for t in ("51", "55", "61", "65", "71", "75", "81", "85")] == [
        *("11", "15", "21", "25", "31", "35", "41", "45"),
    ]
    assert primary_predecessor("15") == "55"
    assert primary_predecessor("43") == "83"
    assert primary_predecessor("16") is None  # first molars erupt behind the primary teeth
    with pytest.raises(ValueError):
        primary_successor("15")


# --- surfaces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "tooth", "stored", "shown"),
    [
        ("dom", "36", "MOD", "MOD"),
        ("od", "36", "DO", "DO"),
        ("DO", "36", "DO", "DO"),
        ("mo", "46", "MO", "MO"),
        ("OD", "11", "DO", "DI"),  # incisal on a front tooth
        ("mid", "11", "MOD", "MID"),
        ("fi", "11", "OB", "IF"),  # incisal-facial, in the stored order
        ("io", "21", "O", "I"),  # the same surface named twice
        ("o", "13", "O", "I"),  # canines are anterior
        ("f", "36", "B", "B"),  # facial typed on a molar is its buccal
        ("bo", "46", "OB", "OB"),
        ("lm", "16", "ML", "ML"),
        ("dl", "16", "DL", "DL"),
        ("ldob", "26", "DOBL", "DOBL"),
        ("bdm", "25", "MDB", "MDB"),
        ("mm o", "36", "MO", "MO"),
        ("M, O, D", "36", "MOD", "MOD"),
        ("lbdom", "14", "MODBL", "MODBL"),
        ("lbdom", "12", "MODBL", "MIDFL"),
    ],
)
def test_surfaces_are_stored_in_one_order_and_shown_with_front_tooth_letters(
    typed: str, tooth: str, stored: str, shown: str
) -> None:
    assert parse_surfaces(typed, tooth) == stored
    assert surfaces_label(stored, tooth) == shown


def test_single_surface_letters() -> None:
    assert surface_label(Surface.O, "11") == "I"
    assert surface_label(Surface.B, "33") == "F"
    assert surface_label(Surface.O, "36") == "O"
    assert surface_label(Surface.B, "14") == "B"
    assert surface_label(Surface.L, "11") == "L"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("MX", '"X" is not a tooth surface: use M, O or I, D, B or F, and L.'),
        ("p", '"P" is not a tooth surface: use M, O or I, D, B or F, and L.'),
        ("6", '"6" is not a tooth surface: use M, O or I, D, B or F, and L.'),
        ("", "Enter at least one surface: M, O or I, D, B or F, and L."),
        (" , ", "Enter at least one surface: M, O or I, D, B or F, and L."),
    ],
)
def test_unknown_or_no_surfaces_are_refused(typed: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_surfaces(typed, "36")
    assert str(caught.value) == message


# --- furcations --------------------------------------------------------------------------------


def test_furcation_sites_follow_the_roots() -> None:
    for t in ("16", "17", "18", "26", "27", "28"):
        assert furcation_sites(t) == {"B", "ML", "DL"}, t
    assert furcation_sites("14") == furcation_sites("24") == {"ML", "DL"}
    for t in ("36", "37", "38", "46", "47", "48"):
        assert furcation_sites(t) == {"B", "L"}, t
    # single-rooted teeth, lower premolars, upper second premolars and primary molars: none
    for t in ("11", "13", "15", "25", "34", "44", "45", "55", "75"):
        assert furcation_sites(t) == frozenset(), t
    with_furcations = [t for t in ALL_TEETH if furcation_sites(t)]
    assert len(with_furcations) == 14
