"""The procedure catalogue: the shipped list is sound, a clinic's own list imports row by row
with every faulty line named, and money reads and prints the way a front desk writes it."""

import re

import pytest

from app.domain.catalogue import (
    CONDITION_DRAWS,
    PROCEDURE_DRAWS,
    Area,
    BadLine,
    Category,
    ProcedureDef,
    format_money,
    parse_catalogue_csv,
    parse_money,
    shipped_conditions,
    shipped_procedures,
)
from app.domain.errors import UserError

HEADER = "code,description,category,default_fee,area,surfaces_required,condition"

# --- the shipped catalogue ---------------------------------------------------------------


def test_the_shipped_catalogue_covers_a_general_practice():
    procs = shipped_procedures()
    assert len(procs) >= 60
    assert {p.category for p in procs} == set(Category)
    codes = [p.code for p in procs]
    assert len(set(codes)) == len(codes)


def test_the_shipped_catalogue_uses_none_of_the_licensed_cdt_codes():
    assert not [p.code for p in shipped_procedures() if re.fullmatch(r"[Dd]\d{4}", p.code)]
    assert all(re.fullmatch(r"[A-Z]{2}\d{3}", p.code) for p in shipped_procedures())


def test_the_shipped_file_has_no_bad_lines_and_sensible_rows():
    from app.domain.catalogue import PROCEDURES_CSV

    parsed = parse_catalogue_csv(PROCEDURES_CSV.read_text(encoding="utf-8"))
    assert parsed.bad_lines == ()
    by_code = {p.code: p for p in parsed.procedures}
    for p in parsed.procedures:
        assert 0 < p.fee_cents <= 100_000_00
        assert (p.area is Area.SURFACE) == (p.surfaces_required >= 1)
    # the fillings a dentist picks by the number of surfaces
    assert [by_code[c].surfaces_required for c in ("RS100", "RS110", "RS120", "RS130")] == [1, 2, 3, 4]
    assert by_code["RS110"].draw == "filling"
    assert by_code["OS100"].draw == "extraction"
    assert by_code["PR100"].area is Area.ARCH


def test_the_shipped_conditions_are_the_chart_findings():
    conds = {c.code: c for c in shipped_conditions()}
    assert set(conds) == {
        "missing", "impacted", "unerupted", "implant", "crown", "bridge_abutment",
        "bridge_pontic", "root_canal", "caries", "fracture", "watch", "filling",
    }  # fmt: skip
    assert conds["caries"].area is Area.SURFACE
    assert conds["filling"].area is Area.SURFACE
    assert conds["missing"].draw == "missing"
    assert conds["bridge_pontic"].draw == "pontic"
    assert all(c.draw in CONDITION_DRAWS for c in conds.values())
    assert "extraction" in PROCEDURE_DRAWS and "extraction" not in CONDITION_DRAWS


def test_category_labels_read_as_words():
    assert Category.ORAL_SURGERY.label == "Oral surgery"
    assert Category.DIAGNOSTIC.label == "Diagnostic"


# --- importing a clinic's list -----------------------------------------------------------

MIXED = f"""{HEADER}
AB100,Recall exam,diagnostic,60.00,mouth,0,
AB110,Small filling,restorative,"12,50x",surface,1,filling
AB120,Tooth jewel,cosmetic,90.00,tooth,0,
AB130,,diagnostic,40.00,mouth,0,
ab100,Recall exam again,diagnostic,65.00,mouth,0,

AB140,Big filling,restorative,250.00,surface,7,filling
AB150,Crown,restorative,-5.00,tooth,0,crown
AB160,"Crown, ceramic",Oral surgery,"$1,250.00",tooth,,extraction
"""


def test_a_mixed_file_names_exactly_the_bad_lines_and_keeps_the_good_ones():
    parsed = parse_catalogue_csv(MIXED)
    assert parsed.bad_lines == (
        BadLine(3, 'line 3: default_fee "12,50x" is not an amount of money'),
        BadLine(
            4,
            'line 4: category "cosmetic" is not one of diagnostic, preventive, restorative, endodontics, '
            "periodontics, prosthodontics, implants, oral_surgery, orthodontics, adjunctive",
        ),
        BadLine(5, "line 5: description is empty"),
        BadLine(6, 'line 6: code "ab100" is already used on line 2'),
        # line 7 is blank and skipped, not an error
        BadLine(8, 'line 8: surfaces_required "7" is not a whole number from 0 to 5'),
        BadLine(9, 'line 9: default_fee "-5.00" is negative'),
    )
    assert parsed.procedures == (
        ProcedureDef("AB100", "Recall exam", Category.DIAGNOSTIC, 6000, Area.MOUTH, 0, ""),
        # a label works as a category and a blank surfaces_required means 0 off a surface
        ProcedureDef("AB160", "Crown, ceramic", Category.ORAL_SURGERY, 125000, Area.TOOTH, 0, "extraction"),
    )


def test_every_problem_on_a_line_is_named_in_one_message():
    parsed = parse_catalogue_csv(f"{HEADER}\nAB 1,x,restorative,5,tooth,2,bling\n")
    assert parsed.bad_lines == (
        BadLine(
            2,
            'line 2: code "AB 1" may hold only letters, digits, "." and "-"; '
            'surfaces_required is 2 but only area "surface" takes surfaces, not "tooth"; '
            'condition "bling" is not one of abutment, bridge, crown, extraction, filling, implant, pontic, '
            "root_canal, sealant, veneer",
        ),
    )


def test_a_surface_procedure_needs_a_surface_and_a_fee_has_a_ceiling():
    parsed = parse_catalogue_csv(
        f"{HEADER}\nA1,Filling,restorative,100,surface,0,filling\nA2,Gold,restorative,100000.01,tooth,0,\n"
    )
    assert [b.message for b in parsed.bad_lines] == [
        'line 2: surfaces_required is 0 but area "surface" needs 1 to 5 surfaces',
        'line 3: default_fee "100000.01" is more than $100,000.00',
    ]


def test_an_unquoted_fee_with_a_comma_is_caught_rather_than_shifting_the_columns():
    parsed = parse_catalogue_csv(f"{HEADER}\nA1,Crown,restorative,1,250.00,tooth,0,crown\n")
    assert parsed.procedures == ()
    assert parsed.bad_lines == (
        BadLine(
            2,
            "line 2: has 8 values but the first line names 7 columns; a value holding a comma must be in double quotes",
        ),
    )


def test_line_numbers_count_a_description_running_over_two_lines():
    parsed = parse_catalogue_csv(f'{HEADER}\nA1,"Two\nlines",diagnostic,5,mouth,0,\nA2,,diagnostic,5,mouth,0,\n')
    assert parsed.procedures[0].description == "Two lines"
    assert parsed.bad_lines == (BadLine(4, "line 4: description is empty"),)


def test_a_minimal_clinic_list_with_semicolons_and_a_byte_order_mark():
    text = (
        "\ufeff Code ;Description;CATEGORY;Default Fee\r\n"
        "X1;Exam, short;Diagnostic;55,00\r\n"
        "X2;Crown, ceramic;restorative;1.250,00\r\n"
        "\r\n"
        "X3;Cleaning;preventive;95.00\r\n"
    )
    parsed = parse_catalogue_csv(text)
    assert parsed.bad_lines == ()
    assert parsed.procedures == (
        # area, surfaces and drawing default when the file does not have those columns
        ProcedureDef("X1", "Exam, short", Category.DIAGNOSTIC, 5500, Area.TOOTH, 0, ""),
        ProcedureDef("X2", "Crown, ceramic", Category.RESTORATIVE, 125000, Area.TOOTH, 0, ""),
        ProcedureDef("X3", "Cleaning", Category.PREVENTIVE, 9500, Area.TOOTH, 0, ""),
    )


def test_a_missing_required_column_is_named():
    with pytest.raises(UserError, match='no "default_fee" column'):
        parse_catalogue_csv("code,description,category,fee\nA1,Exam,diagnostic,5\n")


@pytest.mark.parametrize("text", ["", "\ufeff", "\n  \n"])
def test_an_empty_file_is_refused(text):
    with pytest.raises(UserError, match="The file is empty."):
        parse_catalogue_csv(text)


# --- money -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("125", 12500),
        ("125.5", 12550),
        ("125.50", 12550),
        ("$1,250.00", 125000),
        (" $12,345,678.09 ", 1234567809),
        ("0.10", 10),
        (".5", 50),
        ("0", 0),
    ],
)
def test_money_is_read_to_the_cent(text, cents):
    assert parse_money(text) == cents


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "An amount of money is required."),
        ("-12.00", '"-12.00" is negative.'),
        ("-$12", '"-$12" is negative.'),
        ("12.345", '"12.345" has more than two decimal places.'),
        ("12,50x", '"12,50x" is not an amount of money.'),
        ("12,50", '"12,50" is not an amount of money.'),
        ("1,2345.00", '"1,2345.00" is not an amount of money.'),
        ("twelve", '"twelve" is not an amount of money.'),
        ("1e3", '"1e3" is not an amount of money.'),
        ("$", '"$" is not an amount of money.'),
    ],
)
def test_money_that_cannot_be_read_is_refused(text, message):
    with pytest.raises(UserError) as e:
        parse_money(text)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("cents", "text"),
    [(125050, "$1,250.50"), (-1200, "-$12.00"), (0, "$0.00"), (5, "$0.05"), (123456789, "$1,234,567.89")],
)
def test_money_prints_with_dollars_and_cents(cents, text):
    assert format_money(cents) == text
