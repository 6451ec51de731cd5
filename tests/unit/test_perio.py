"""Perio charting maths checked against figures worked out by hand."""

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import ValidationError
from app.domain.perio import (
    DEFAULT_PATH,
    FACIAL,
    LINGUAL,
    PROBING_PATHS,
    SITES,
    PerioExam,
    PerioSummary,
    Segment,
    Side,
    SiteChange,
    cal,
    compare,
    furcation_path,
    path_segments,
    probing_path,
    suggest_stage_grade,
    summarize,
    tooth_path,
    worse_sites,
)
from app.domain.teeth import PERMANENT, Arch, Numbering

DB, B, MB, DL, L, ML = range(6)


def only(*present: str) -> PerioExam:
    """An exam in which every tooth but these is missing."""
    return PerioExam.blank(missing=[t for t in PERMANENT if t not in present])


def chart(exam: PerioExam, tooth: str, depth: list[int | None], margin: list[int | None] | None = None) -> None:
    for i, d in enumerate(depth):
        exam.set_depth(tooth, i, d)
    for i, m in enumerate(margin or [None] * 6):
        exam.set_margin(tooth, i, m)


def refused(action: object) -> dict[str, str]:
    """Run a setter that must fail; the field -> message it gave."""
    assert callable(action)
    with pytest.raises(ValidationError) as caught:
        action()
    return caught.value.messages()


def test_site_order_and_halves() -> None:
    assert SITES == ("DB", "B", "MB", "DL", "L", "ML")
    assert FACIAL == ("DB", "B", "MB")
    assert LINGUAL == ("DL", "L", "ML")


def test_cal_adds_recession_and_subtracts_enlargement() -> None:
    assert cal(5, 2) == 7  # 5 mm pocket below 2 mm of recession
    assert cal(5, -2) == 3  # 5 mm pocket, but 2 mm of it is swollen gum above the CEJ
    assert cal(3, None) == 3  # margin not recorded: taken as at the CEJ
    assert cal(None, 2) is None  # nothing probed


# --- a small exam worked by hand --------------------------------------------------------------


def three_tooth_exam() -> PerioExam:
    exam = only("16", "11", "36")
    #                 DB  B  MB  DL  L  ML
    # 16 PD            3  2  5   4   3  6     sum 23, >=4: 3 sites, >=5: 2 sites
    # 16 GM            1  0  -   2   -  -1
    # 16 CAL           4  2  5   6   3  5     sum 25
    chart(exam, "16", [3, 2, 5, 4, 3, 6], [1, 0, None, 2, None, -1])
    exam.toggle("bleeding", "16", MB)
    exam.toggle("bleeding", "16", ML)
    exam.toggle("suppuration", "16", ML)
    exam.toggle("plaque", "16", B)
    exam.set_mobility("16", 1)
    exam.set_furcation("16", "B", 2)
    # 11 PD            2  1  2   3   2  2     sum 12
    # 11 GM            -  2  -   -   -  -
    # 11 CAL           2  3  2   3   2  2     sum 14
    chart(exam, "11", [2, 1, 2, 3, 2, 2], [None, 2, None, None, None, None])
    exam.toggle("plaque", "11", DB)
    exam.toggle("plaque", "11", MB)
    # 36 PD            4  -  3   2   2  2     B not probed; sum 13, >=4: 1 site
    # 36 CAL           4  -  3   2   2  2     sum 13
    chart(exam, "36", [4, None, 3, 2, 2, 2], [0, None, 0, 0, 0, 0])
    exam.toggle("bleeding", "36", DB)
    exam.toggle("bleeding", "36", B)  # marked on a site never probed: not bleeding *on probing*
    exam.toggle("plaque", "36", B)  # plaque counts on every present site, probed or not
    exam.toggle("plaque", "36", L)
    return exam


def test_summary_of_the_three_tooth_exam() -> None:
    s = summarize(three_tooth_exam())
    assert s == PerioSummary(
        teeth_present=3,
        sites_probed=17,  # 6 + 6 + 5
        sites_4_plus=4,  # 16 MB 5, 16 DL 4, 16 ML 6, 36 DB 4
        sites_5_plus=2,  # 16 MB 5, 16 ML 6
        bleeding_pct=Decimal("17.6"),  # 16 MB, 16 ML, 36 DB = 3 of 17 probed = 17.647%
        plaque_pct=Decimal("27.8"),  # 16 B, 11 DB, 11 MB, 36 B, 36 L = 5 of 18 sites = 27.78%
        suppuration_sites=1,  # 16 ML
        mean_depth=Decimal("2.8"),  # (23 + 12 + 13) / 17 = 48 / 17 = 2.82
        mean_cal=Decimal("3.1"),  # (25 + 14 + 13) / 17 = 52 / 17 = 3.06
    )


def test_percentages_and_means_round_half_up() -> None:
    exam = only("16", "11", "36")
    # 16 sites probed (36 B and 36 L left blank), depths fourteen 2s and two 4s = 36 mm
    chart(exam, "16", [2, 2, 2, 2, 2, 2])
    chart(exam, "11", [2, 2, 4, 2, 2, 2])
    chart(exam, "36", [4, None, 2, 2, None, 2])
    exam.toggle("bleeding", "11", MB)
    s = summarize(exam)
    assert s.bleeding_pct == Decimal("6.3")  # 1 / 16 = 6.25%, half-up (not 6.2)
    assert s.mean_depth == Decimal("2.3")  # 36 / 16 = 2.25, half-up
    assert s.sites_4_plus == 2
    assert s.sites_5_plus == 0
    assert s.plaque_pct == Decimal("0.0")


def test_an_empty_exam_has_no_percentages_to_show() -> None:
    s = summarize(PerioExam.blank(missing=["18", "28", "38", "48"]))
    assert s.teeth_present == 28
    assert s.sites_probed == 0
    assert s.bleeding_pct is None
    assert s.mean_depth is None
    assert s.mean_cal is None
    assert s.plaque_pct == Decimal("0.0")


# --- comparison ---------------------------------------------------------------------------------


def test_compare_marks_exactly_the_sites_worse_by_2_mm() -> None:
    before = only("16", "11", "36", "46")
    after = only("16", "11", "36")  # 46 lost since
    #                   DB  B  MB  DL  L  ML
    # 16 before PD       3  3  4   6   5  4     GM all 0
    # 16 after  PD       5  3  5   4   3  4     GM 0, except B 2 and L 2
    # before CAL         3  3  4   6   5  4
    # after  CAL         5  5  5   4   5  4
    # change            PD+2 CAL+2 +1 PD-2 PD-2  none
    #                  worse worse  - better better
    chart(before, "16", [3, 3, 4, 6, 5, 4], [0, 0, 0, 0, 0, 0])
    chart(after, "16", [5, 3, 5, 4, 3, 4], [0, 2, 0, 0, 2, 0])
    # 11 DB probed only before; 11 B: PD 2 -> 1 but 3 mm recession, CAL 2 -> 4: worse
    chart(before, "11", [3, 2, None, None, None, None])
    chart(after, "11", [None, 1, None, None, None, None], [None, 3, None, None, None, None])
    # 36 MB: PD 5 (GM -2, CAL 3) -> PD 4 (GM 0, CAL 4): changed by 1 each way, neither
    chart(before, "36", [None, None, 5, None, None, None], [None, None, -2, None, None, None])
    chart(after, "36", [None, None, 4, None, None, None], [None, None, 0, None, None, None])
    chart(before, "46", [9, 9, 9, 9, 9, 9])

    changes = compare(before, after)
    assert changes == [
        SiteChange("16", "DB", 3, 5, 3, 5, worse=True, better=False),
        SiteChange("16", "B", 3, 3, 3, 5, worse=True, better=False),
        SiteChange("16", "MB", 4, 5, 4, 5, worse=False, better=False),
        SiteChange("16", "DL", 6, 4, 6, 4, worse=False, better=True),
        SiteChange("16", "L", 5, 3, 5, 5, worse=False, better=True),
        SiteChange("11", "B", 2, 1, 2, 4, worse=True, better=False),
        SiteChange("36", "MB", 5, 4, 3, 4, worse=False, better=False),
    ]
    assert worse_sites(before, after) == {("16", "DB"), ("16", "B"), ("11", "B")}
    assert worse_sites(after, before) == {("16", "DL"), ("16", "L")}  # the other way round


# --- probing paths ------------------------------------------------------------------------------


def full_mouth() -> PerioExam:
    return PerioExam.blank()


def named(path: list[tuple[str, int]]) -> list[str]:
    return [f"{t} {SITES[i]}" for t, i in path]


def test_the_s_curve_is_the_default_and_runs_continuously() -> None:
    assert DEFAULT_PATH == "s-curve"
    label, segments = PROBING_PATHS["s-curve"]
    assert label == "Upper facial R→L, upper lingual L→R, lower lingual R→L, lower facial L→R"
    path = named(probing_path(full_mouth(), segments))
    assert len(path) == 192
    assert path[:6] == ["18 DB", "18 B", "18 MB", "17 DB", "17 B", "17 MB"]
    # across the midline the two mesial sites meet
    assert path[21:27] == ["11 DB", "11 B", "11 MB", "21 MB", "21 B", "21 DB"]
    # upper facial ends behind 28, and the probe turns round it to the palate
    assert path[45:50] == ["28 MB", "28 B", "28 DB", "28 DL", "28 L"]
    assert path[93:99] == ["18 ML", "18 L", "18 DL", "48 DL", "48 L", "48 ML"]
    assert path[141:147] == ["38 ML", "38 L", "38 DL", "38 DB", "38 B", "38 MB"]
    assert path[-3:] == ["48 MB", "48 B", "48 DB"]


def test_the_facial_first_path() -> None:
    label, segments = PROBING_PATHS["facial-first"]
    assert label == "Upper facial R→L, lower facial L→R, lower lingual R→L, upper lingual L→R"
    path = named(probing_path(full_mouth(), segments))
    assert path[45:51] == ["28 MB", "28 B", "28 DB", "38 DB", "38 B", "38 MB"]
    assert path[93:99] == ["48 MB", "48 B", "48 DB", "48 DL", "48 L", "48 ML"]
    assert path[-3:] == ["18 ML", "18 L", "18 DL"]


def test_a_missing_tooth_is_stepped_over() -> None:
    exam = PerioExam.blank(missing=["17", "21"])
    path = named(probing_path(exam, path_segments("s-curve")))
    assert len(path) == 180
    assert path[:6] == ["18 DB", "18 B", "18 MB", "16 DB", "16 B", "16 MB"]
    assert path[18:24] == ["11 DB", "11 B", "11 MB", "22 MB", "22 B", "22 DB"]
    assert not any(p.startswith(("17 ", "21 ")) for p in path)


def test_an_unknown_path_setting_falls_back_to_the_s_curve() -> None:
    assert path_segments("no-such-path") == PROBING_PATHS["s-curve"][1]


@given(missing=st.sets(st.sampled_from(PERMANENT)), path_id=st.sampled_from(sorted(PROBING_PATHS)))
def test_every_preset_visits_every_site_of_every_present_tooth_once(missing: set[str], path_id: str) -> None:
    exam = PerioExam.blank(missing=missing)
    path = probing_path(exam, PROBING_PATHS[path_id][1])
    expected = {(t, i) for t in PERMANENT if t not in missing for i in range(6)}
    assert Counter(path) == Counter(expected)
    assert tooth_path(exam, PROBING_PATHS[path_id][1]) == list(dict.fromkeys(t for t, _ in path))
    assert sorted(tooth_path(exam, PROBING_PATHS[path_id][1])) == sorted(set(PERMANENT) - missing)


def test_tooth_path_for_mobility_follows_the_s_curve() -> None:
    order = tooth_path(PerioExam.blank(missing=["18", "28", "38", "48"]), path_segments("s-curve"))
    assert order[:3] == ["17", "16", "15"]
    assert order[13] == "27"
    # the lower arch is first reached on the lingual pass, from the patient's right
    assert order[14:17] == ["47", "46", "45"]
    assert order[-1] == "37"
    assert len(order) == 28


def test_a_custom_segment_list() -> None:
    lower_lingual_leftwards = [Segment(Arch.LOWER, Side.LINGUAL, False)]
    path = named(probing_path(only("36", "46"), lower_lingual_leftwards))
    assert path == ["36 DL", "36 L", "36 ML", "46 ML", "46 L", "46 DL"]


def test_furcation_path_visits_the_furcations_in_s_curve_order() -> None:
    exam = full_mouth()
    assert furcation_path(exam, path_segments("s-curve")) == [
        # upper facial, patient's right to left
        *[("18", "B"), ("17", "B"), ("16", "B"), ("26", "B"), ("27", "B"), ("28", "B")],
        # palate, left to right: distal before mesial on the left, mesial before distal on the right
        *[("28", "DL"), ("28", "ML"), ("27", "DL"), ("27", "ML"), ("26", "DL"), ("26", "ML")],
        *[("24", "DL"), ("24", "ML"), ("14", "ML"), ("14", "DL")],
        *[("16", "ML"), ("16", "DL"), ("17", "ML"), ("17", "DL"), ("18", "ML"), ("18", "DL")],
        # lower lingual right to left, lower facial left to right
        *[("48", "L"), ("47", "L"), ("46", "L"), ("36", "L"), ("37", "L"), ("38", "L")],
        *[("38", "B"), ("37", "B"), ("36", "B"), ("46", "B"), ("47", "B"), ("48", "B")],
    ]


def test_furcation_path_skips_implants_and_missing_teeth() -> None:
    exam = PerioExam.blank(missing=["18", "17", "27", "28", "14", "24"], implants=["16"])
    assert furcation_path(exam, [Segment(Arch.UPPER, Side.FACIAL, True)]) == [("26", "B")]
    assert furcation_path(exam, [Segment(Arch.UPPER, Side.LINGUAL, True)]) == [("26", "ML"), ("26", "DL")]


# --- limits -------------------------------------------------------------------------------------


def test_out_of_range_readings_are_refused_naming_the_tooth_and_site() -> None:
    exam = PerioExam.blank(missing=["18"], implants=["46"])
    untouched = PerioExam.from_json(exam.to_json())
    assert refused(lambda: exam.set_depth("16", MB, 25)) == {
        "16.MB.depth": "Probing depth 25 mm at 16 MB is not possible (0–19 mm)."
    }
    assert refused(lambda: exam.set_depth("16", DB, 20)) == {
        "16.DB.depth": "Probing depth 20 mm at 16 DB is not possible (0–19 mm)."
    }
    assert refused(lambda: exam.set_depth("21", L, -1)) == {
        "21.L.depth": "Probing depth -1 mm at 21 L is not possible (0–19 mm)."
    }
    assert refused(lambda: exam.set_margin("31", DL, 16)) == {
        "31.DL.margin": "Gingival margin 16 mm at 31 DL is not possible (-9 to 15 mm)."
    }
    assert refused(lambda: exam.set_margin("31", DL, -10)) == {
        "31.DL.margin": "Gingival margin -10 mm at 31 DL is not possible (-9 to 15 mm)."
    }
    assert refused(lambda: exam.set_mobility("31", 4)) == {"31.mobility": "Mobility 4 on 31 is not possible (0–3)."}
    assert refused(lambda: exam.set_furcation("11", "B", 1)) == {
        "11.B.furcation": "Furcation is charted only on molars and upper first premolars; 11 has none."
    }
    assert refused(lambda: exam.set_furcation("14", "B", 1)) == {
        "14.B.furcation": "No furcation at B on 14; 14 has furcations at ML and DL only."
    }
    assert refused(lambda: exam.set_furcation("36", "ML", 1)) == {
        "36.ML.furcation": "No furcation at ML on 36; 36 has furcations at B and L only."
    }
    assert refused(lambda: exam.set_furcation("16", "L", 2)) == {
        "16.L.furcation": "No furcation at L on 16; 16 has furcations at B, ML and DL only."
    }
    assert refused(lambda: exam.set_furcation("16", "B", 4)) == {
        "16.B.furcation": "Furcation grade 4 at 16 B is not possible (1–3)."
    }
    assert refused(lambda: exam.set_furcation("46", "B", 1)) == {
        "46.B.furcation": "46 is an implant; implants have no furcations."
    }
    missing = "18 is marked missing; unmark it before charting readings on it."
    assert refused(lambda: exam.set_depth("18", B, 3)) == {"18.B.depth": missing}
    assert refused(lambda: exam.toggle("bleeding", "18", B)) == {"18.B.bleeding": missing}
    assert refused(lambda: exam.set_mobility("18", 1)) == {"18.mobility": missing}
    assert refused(lambda: exam.set_furcation("18", "B", 1)) == {"18.B.furcation": missing}
    # nothing was written by any refused entry
    assert exam == untouched


def test_the_edges_of_each_range_are_accepted() -> None:
    exam = PerioExam.blank(implants=["36"])
    exam.set_depth("16", DB, 0)
    exam.set_depth("16", B, 19)
    exam.set_margin("16", DB, -9)
    exam.set_margin("16", B, 15)
    exam.set_mobility("36", 3)  # a failing implant can be mobile
    exam.set_furcation("16", "DL", 3)
    exam.set_furcation("24", "ML", 1)
    r = exam.teeth["16"]
    assert (r.depth[:2], r.margin[:2], r.furcation) == ([0, 19], [-9, 15], {"DL": 3})
    assert r.cal(DB) == -9 and r.cal(B) == 34
    assert exam.teeth["36"].mobility == 3
    exam.set_furcation("16", "DL", None)
    assert r.furcation == {}


def test_marking_a_tooth_missing_clears_it_and_an_implant_makes_it_present() -> None:
    exam = three_tooth_exam()
    exam.set_missing("16", True)
    r = exam.teeth["16"]
    assert r.missing and not r.has_readings()
    assert r.depth == [None] * 6 and r.furcation == {} and r.mobility is None
    assert exam.present_teeth() == ["11", "36"]
    exam.set_implant("16", True)
    assert not r.missing and r.implant
    assert exam.present_teeth() == ["16", "11", "36"]
    exam.set_depth("16", DB, 4)
    exam.set_missing("16", True)
    assert r.missing and not r.implant and r.depth[DB] is None


def test_making_a_tooth_an_implant_drops_its_furcations() -> None:
    exam = full_mouth()
    exam.set_furcation("36", "B", 2)
    exam.set_implant("36", True)
    assert exam.teeth["36"].furcation == {}


def test_a_tooth_cannot_be_both_missing_and_an_implant_or_unknown() -> None:
    assert refused(lambda: PerioExam.blank(missing=["16"], implants=["16"])) == {
        "16.implant": "16 cannot be both missing and an implant."
    }
    assert refused(lambda: PerioExam.blank(missing=["55"])) == {
        "55": 'No tooth "55" in the perio chart (permanent teeth 11–48).'
    }


def test_validate_finds_readings_that_bypassed_the_setters() -> None:
    exam = three_tooth_exam()
    exam.validate()  # the hand-worked exam is sound
    exam.teeth["16"].depth[DB] = 30
    exam.teeth["11"].furcation["B"] = 1
    exam.teeth["18"].bleeding[B] = True
    assert refused(exam.validate) == {
        "16.DB.depth": "Probing depth 30 mm at 16 DB is not possible (0–19 mm).",
        "11.B.furcation": "Furcation is charted only on molars and upper first premolars; 11 has none.",
        "18.missing": "18 is marked missing but has readings.",
    }


# --- storage ------------------------------------------------------------------------------------


def test_json_is_compact_and_stable() -> None:
    exam = PerioExam.blank(missing=["18"], implants=["46"])
    exam.set_depth("16", DB, 5)
    exam.set_margin("16", DB, -1)
    exam.toggle("bleeding", "16", DB)
    exam.set_furcation("16", "B", 2)
    exam.set_mobility("31", 0)
    assert exam.to_json() == (
        '{"teeth":{"16":{"bleeding":[1,0,0,0,0,0],"depth":[5,null,null,null,null,null],"furcation":{"B":2},'
        '"margin":[-1,null,null,null,null,null]},"18":{"missing":true},"31":{"mobility":0},'
        '"46":{"implant":true}},"version":1}'
    )
    assert PerioExam.blank().to_json() == '{"teeth":{},"version":1}'


def test_json_round_trips_exactly() -> None:
    exam = three_tooth_exam()
    exam.set_implant("46", True)
    exam.set_depth("46", L, 4)
    text = exam.to_json()
    back = PerioExam.from_json(text)
    assert back == exam
    assert back.to_json() == text
    assert list(back.teeth) == list(PERMANENT)
    assert summarize(back) == summarize(exam)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "The saved perio chart cannot be read (it is not JSON)."),
        ('{"teeth":{},"version":2}', "The saved perio chart cannot be read (unknown version 2)."),
        ('{"teeth":{"19":{}},"version":1}', 'The saved perio chart cannot be read (unknown tooth "19").'),
        (
            '{"teeth":{"16":{"depth":[1,2]}},"version":1}',
            "The saved perio chart cannot be read (unreadable readings for 16).",
        ),
        (
            '{"teeth":{"16":{"depth":[1,2,3,4,5,"6"]}},"version":1}',
            "The saved perio chart cannot be read (unreadable readings for 16).",
        ),
    ],
)
def test_unreadable_json_is_refused(text: str, message: str) -> None:
    assert refused(lambda: PerioExam.from_json(text)) == {"readings": message}


def test_json_with_impossible_readings_is_refused_like_typed_ones() -> None:
    text = '{"teeth":{"16":{"depth":[25,null,null,null,null,null]}},"version":1}'
    assert refused(lambda: PerioExam.from_json(text)) == {
        "16.DB.depth": "Probing depth 25 mm at 16 DB is not possible (0–19 mm)."
    }


# --- staging suggestions ------------------------------------------------------------------------


def healthy(missing: tuple[str, ...] = (), implants: tuple[str, ...] = ()) -> PerioExam:
    """Every present tooth probed 2 mm all round, margins not recorded (so CAL 2 everywhere)."""
    exam = PerioExam.blank(missing=missing, implants=implants)
    for t in exam.present_teeth():
        chart(exam, t, [2] * 6)
    return exam


def put(exam: PerioExam, tooth: str, site: int, depth: int, margin: int | None = None) -> None:
    exam.set_depth(tooth, site, depth)
    exam.set_margin(tooth, site, margin)


def test_a_healthy_mouth_suggests_no_periodontitis() -> None:
    exam = healthy()
    put(exam, "16", B, 3)  # a 3 mm buccal sulcus is not interdental
    s = suggest_stage_grade(exam, age=40)
    assert (s.periodontitis, s.stage, s.extent, s.grade) == (False, None, None, None)
    assert s.reasons == (
        "Interdental attachment loss (CAL 3 mm or more, or CAL with a pocket of 4 mm or more) "
        "is not found on 2 or more non-adjacent teeth: no periodontitis suggested",
        "Greatest interdental CAL 2 mm (18 DB)",
        "No gingival margins recorded: CAL is taken as the probing depth, so only sites with pockets "
        "of 4 mm or more count as attachment loss",
    )
    assert s.label == "Suggestion only: confirm with radiographs, history and clinical judgement."


def test_nothing_probed_suggests_nothing() -> None:
    s = suggest_stage_grade(PerioExam.blank())
    assert not s.periodontitis
    assert s.reasons == ("No interdental sites probed: nothing to suggest.",)


def test_loss_on_two_neighbouring_teeth_only_is_not_enough() -> None:
    for pair in (("16", "17"), ("11", "21"), ("31", "41")):
        exam = healthy()
        for t in pair:
            put(exam, t, MB, 4)
        assert not suggest_stage_grade(exam).periodontitis, pair
    exam = healthy()
    put(exam, "11", MB, 4)
    put(exam, "22", MB, 4)  # 21 stands between them
    assert suggest_stage_grade(exam).periodontitis


def test_moderate_localized_loss_is_stage_ii() -> None:
    exam = healthy()
    put(exam, "16", MB, 4)  # CAL 4
    put(exam, "26", DB, 4, 0)  # CAL 4
    put(exam, "45", DL, 3, 1)  # 3 mm pocket, 1 mm recession: CAL 4
    s = suggest_stage_grade(exam, age=50)
    assert (s.periodontitis, s.stage, s.extent, s.grade) == (True, "II", "localized", "B")
    assert s.reasons == (
        "Greatest interdental CAL 4 mm (16 MB): stage II",
        "3 of 32 teeth (9%) have interdental CAL of 3 mm or more: localized",  # 3/32 = 9.4%
        "No exam 1+ years earlier to measure progression: grade B assumed (default per 2017 classification)",
    )


def test_pockets_with_little_attachment_loss_still_count() -> None:
    # 5 mm and 4 mm pockets under swollen gums: CAL only 2 mm, but a pocket of 4+ with CAL 1+
    exam = healthy()
    put(exam, "16", MB, 5, -3)
    put(exam, "26", MB, 4, -2)
    s = suggest_stage_grade(exam)
    assert s.periodontitis
    assert s.stage == "II"  # CAL 2 is stage I; a 5 mm pocket makes it at least II
    assert s.reasons[:2] == (
        "Greatest interdental CAL 2 mm (18 DB): stage I",
        "Deepest pocket 5 mm (16 MB): at least stage II",
    )


def test_a_6_mm_pocket_or_a_grade_2_furcation_makes_it_stage_iii() -> None:
    exam = healthy()
    put(exam, "16", MB, 4)
    put(exam, "36", DL, 6, -2)  # CAL 4
    s = suggest_stage_grade(exam)
    assert s.stage == "III"
    assert "Deepest pocket 6 mm (36 DL): at least stage III" in s.reasons
    assert s.extent == "molar/incisor pattern"  # only 16 and 36 reach 3 mm

    exam = healthy()
    put(exam, "16", MB, 4)
    put(exam, "35", MB, 4)
    exam.set_furcation("16", "B", 2)
    s = suggest_stage_grade(exam)
    assert s.stage == "III"
    assert "Furcation grade 2 (16 B): at least stage III" in s.reasons
    assert s.extent == "localized"


def test_severe_loss_with_mobility_2_is_stage_iv_generalized() -> None:
    exam = healthy(missing=("18", "28", "38", "48"))
    put(exam, "16", DB, 6, 1)  # CAL 7, the greatest
    for t in ("17", "15", "26", "27", "36", "37", "46", "47"):
        put(exam, t, MB, 5)  # CAL 5
    put(exam, "11", ML, 4, 1)  # CAL 5
    exam.set_mobility("31", 2)
    s = suggest_stage_grade(exam, age=60)
    assert (s.periodontitis, s.stage, s.extent, s.grade) == (True, "IV", "generalized", "B")
    assert s.reasons == (
        "Greatest interdental CAL 7 mm (16 DB): stage III",
        "Mobility 2 on 31: stage IV",
        "10 of 28 teeth (36%) have interdental CAL of 5 mm or more: generalized",  # 10/28 = 35.7%
        "No exam 1+ years earlier to measure progression: grade B assumed (default per 2017 classification)",
    )


def test_fewer_than_20_natural_teeth_makes_stage_iii_into_iv() -> None:
    # 11 teeth gone leaves 21; with 14 and 24 implants, 19 are natural
    gone = ("18", "17", "28", "27", "38", "37", "36", "48", "47", "46", "35")
    exam = healthy(missing=gone, implants=("14", "24"))
    put(exam, "16", MB, 5)
    put(exam, "26", MB, 5)
    s = suggest_stage_grade(exam)
    assert s.stage == "IV"
    assert "Only 19 natural teeth remain (fewer than 20): stage IV" in s.reasons
    # with 24 a natural tooth again there are 20: stage III stays III
    exam.set_implant("24", False)
    assert suggest_stage_grade(exam).stage == "III"


def test_implants_are_left_out_of_staging() -> None:
    exam = healthy(implants=("16", "26"))
    put(exam, "16", MB, 8)
    put(exam, "26", MB, 8)
    assert not suggest_stage_grade(exam).periodontitis


def test_molar_incisor_pattern() -> None:
    exam = healthy()
    for t in ("16", "26", "11"):
        put(exam, t, MB, 5)
    s = suggest_stage_grade(exam, age=19)
    assert (s.stage, s.extent) == ("III", "molar/incisor pattern")
    assert any(
        "3 of 32 teeth (9%) have interdental CAL of 5 mm or more, all first molars or incisors: " in r
        for r in s.reasons
    )
    # young and already stage III with no history: rapid progression assumed
    assert s.grade == "C"
    assert s.reasons[-1] == "Severe loss for age (stage III at 19): grade C"


# --- grade from earlier exams -------------------------------------------------------------------


def stage_iii_at(cal_16_mb: int) -> PerioExam:
    """Stage III on 16 and 26; the CAL at 16 MB varies between exams."""
    exam = healthy()
    put(exam, "16", MB, cal_16_mb)
    put(exam, "26", MB, 5)
    return exam


def test_no_loss_over_two_years_is_grade_a() -> None:
    then = stage_iii_at(5)
    s = suggest_stage_grade(stage_iii_at(5), earlier=[(date(2023, 3, 1), then)], exam_date=date(2025, 3, 1))
    assert s.grade == "A"
    assert s.reasons[-1] == "No attachment loss at any site over 2.0 years: grade A"


def test_one_mm_over_three_years_is_grade_b() -> None:
    # 1 mm in 3 years is 1.7 mm in 5: under 2
    then = stage_iii_at(5)
    s = suggest_stage_grade(stage_iii_at(6), earlier=[(date(2022, 3, 1), then)], exam_date=date(2025, 3, 1))
    assert s.grade == "B"
    assert s.reasons[-1] == "CAL up 1 mm at 16 MB over 3.0 years (1.7 mm per 5 years): grade B"


def test_one_mm_over_two_years_is_grade_c() -> None:
    # 1 mm in 2 years is 2.5 mm in 5
    then = stage_iii_at(5)
    s = suggest_stage_grade(stage_iii_at(6), earlier=[(date(2023, 3, 1), then)], exam_date=date(2025, 3, 1))
    assert s.grade == "C"
    assert s.reasons[-1] == "CAL up 1 mm at 16 MB over 2.0 years (2.5 mm per 5 years): grade C"


def test_the_earliest_exam_a_year_or_more_back_is_used() -> None:
    earlier = [
        (date(2024, 9, 1), stage_iii_at(3)),  # six months back: too recent to count
        (date(2023, 9, 1), stage_iii_at(5)),  # 1.5 years back; CAL read 1 mm lower than now
        (date(2022, 3, 1), stage_iii_at(6)),  # 3 years back: the earliest, same CAL as now
    ]
    s = suggest_stage_grade(stage_iii_at(6), age=30, earlier=earlier, exam_date=date(2025, 3, 1))
    assert s.grade == "A"  # measured stability outranks the age rule


def test_without_a_year_of_history_the_grade_is_b_unless_young_and_severe() -> None:
    recent = [(date(2024, 9, 1), stage_iii_at(3))]
    s = suggest_stage_grade(stage_iii_at(6), age=50, earlier=recent, exam_date=date(2025, 3, 1))
    assert s.grade == "B"
    assert s.reasons[-1].startswith("No exam 1+ years earlier")
    assert suggest_stage_grade(stage_iii_at(6), age=34).grade == "C"
    assert suggest_stage_grade(stage_iii_at(6), age=35).grade == "B"
    assert suggest_stage_grade(stage_iii_at(6)).grade == "B"  # age unknown
    moderate = healthy()
    put(moderate, "16", MB, 4)
    put(moderate, "26", MB, 4)
    assert suggest_stage_grade(moderate, age=25).grade == "B"  # stage II: not severe


def test_three_millimetre_sulci_without_recorded_margins_are_not_called_periodontitis() -> None:
    # CAL = PD when no margin is recorded: an ordinary 3 mm sulcus everywhere must not read as loss
    exam = PerioExam.blank()
    for t in exam.present_teeth():
        for i in range(6):
            exam.set_depth(t, i, 3)
    assert suggest_stage_grade(exam, age=40).periodontitis is False
    # the same readings with recession recorded between the teeth is real attachment loss
    for t in ("16", "26", "36", "46"):
        exam.set_margin(t, 2, 1)
    assert suggest_stage_grade(exam, age=40).stage == "II"


def test_staging_reasons_name_teeth_in_the_clinics_numbering() -> None:
    exam = PerioExam.blank()
    for t in ("16", "26", "36", "46"):
        exam.set_depth(t, 2, 6)  # MB
    s = suggest_stage_grade(exam, age=50, numbering=Numbering.UNIVERSAL)
    assert any("(3 MB)" in r for r in s.reasons)  # FDI 16 is Universal 3
    assert not any("16 MB" in r for r in s.reasons)
