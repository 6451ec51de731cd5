"""Finding a patient while typing: names with typos, dates of birth, phone digits, chart numbers."""

from datetime import date

from app.domain.patient_search import PatientIndex, SearchEntry


def entry(pid, first, last, dob=None, *, chart="", phones=(), archived=False, preferred="", middle=""):
    return SearchEntry(
        patient_id=pid,
        chart_no=chart,
        names=(first, last, preferred, middle),
        sort_name=f"{last} {first}".casefold(),
        date_of_birth=dob,
        phone_digits=tuple(phones),
        archived=archived,
    )


def index(*entries: SearchEntry) -> PatientIndex:
    idx = PatientIndex()
    for e in entries:
        idx.put(e)
    return idx


def test_an_exact_name_ranks_above_a_prefix_which_ranks_above_a_typo():
    idx = index(
        entry("prefix", "Ann", "Smithers"),
        entry("typo", "Bob", "Smyth"),
        entry("exact", "Cal", "Smith"),
    )
    assert idx.search("smith") == ["exact", "prefix", "typo"]


def test_a_swapped_pair_of_letters_still_finds_smith():
    idx = index(entry("s", "John", "Smith"), entry("o", "Jane", "Doe"))
    assert idx.search("smtih") == ["s"]


def test_a_first_and_last_name_must_both_match():
    idx = index(
        entry("js", "Jon", "Smith"),
        entry("jd", "Jon", "Doe"),
        entry("as", "Anna", "Smith"),
    )
    assert idx.search("jon smith") == ["js"]
    assert idx.search("smith jon") == ["js"]


def test_nothing_is_found_when_one_typed_name_matches_no_one():
    idx = index(entry("js", "Jon", "Smith"))
    assert idx.search("jon zzzzzz") == []


def test_equal_matches_are_listed_alphabetically_by_last_name():
    idx = index(entry("b", "Zed", "Brown"), entry("a", "Zed", "Adams"), entry("c", "Zed", "Clark"))
    assert idx.search("zed") == ["a", "b", "c"]


def test_a_date_of_birth_is_found_in_either_day_month_order():
    idx = index(
        entry("april", "A", "Apple", date(1990, 4, 3)),
        entry("march", "M", "March", date(1990, 3, 4)),
        entry("other", "O", "Other", date(1990, 5, 5)),
    )
    assert set(idx.search("03/04/1990")) == {"april", "march"}
    assert idx.search("1990-04-03") == ["april"]
    assert idx.search("13/04/1990") == []


def test_the_last_digits_of_a_phone_number_find_the_patient():
    idx = index(
        entry("a", "Amy", "Ames", phones=("2125550142",)),
        entry("b", "Ben", "Bell", phones=("6175559876", "2125550199")),
    )
    assert idx.search("0142") == ["a"]
    assert idx.search("555-0199") == ["b"]
    assert idx.search("(212) 555") == []


def test_three_digits_are_too_few_to_search_phones():
    idx = index(entry("a", "Amy", "Ames", phones=("2125550142",)))
    assert idx.search("142") == []


def test_a_chart_number_finds_exactly_that_patient_first():
    idx = index(
        entry("chart", "Amy", "Ames", chart="1042"),
        entry("phone", "Ben", "Bell", chart="1043", phones=("2125551042",)),
    )
    assert idx.search("1042") == ["chart", "phone"]
    assert idx.search("104") == []


def test_a_chart_number_with_letters_is_matched_exactly():
    idx = index(entry("a", "Amy", "Ames", chart="AB-12"), entry("b", "Ab", "Bell", chart="AB-13"))
    assert idx.search("ab-12") == ["a"]


def test_archived_patients_are_hidden_unless_asked_for():
    idx = index(entry("live", "Jon", "Smith"), entry("gone", "Jan", "Smith", archived=True))
    assert idx.search("smith") == ["live"]
    assert idx.search("smith", include_archived=True) == ["live", "gone"]


def test_archived_patients_come_after_live_ones_with_the_same_score():
    idx = index(entry("gone", "Al", "Aardvark", archived=True), entry("live", "Al", "Zebra"))
    assert idx.search("al", include_archived=True) == ["live", "gone"]


def test_accents_do_not_matter_either_way():
    idx = index(entry("zoe", "Zoë", "Ó Briain"), entry("jose", "Jose", "Nunez"))
    assert idx.search("zoe") == ["zoe"]
    assert idx.search("o briain") == ["zoe"]
    assert idx.search("josé núñez") == ["jose"]


def test_a_hyphenated_name_is_found_by_each_part_and_as_a_whole():
    idx = index(entry("sj", "Ann", "Smith-Jones"), entry("j", "Bob", "Jones"))
    assert idx.search("jones") == ["j", "sj"]
    assert idx.search("smith-jones") == ["sj"]
    assert idx.search("smithjones") == ["sj"]


def test_a_preferred_name_finds_the_patient():
    idx = index(entry("w", "William", "Turner", preferred="Bill"))
    assert idx.search("bill turner") == ["w"]


def test_a_removed_patient_is_no_longer_found():
    idx = index(entry("a", "Jon", "Smith", date(1980, 1, 2), chart="7", phones=("2125550142",)))
    idx.remove("a")
    assert len(idx) == 0
    assert idx.search("smith") == []
    assert idx.search("1980-01-02") == []
    assert idx.search("7") == []
    assert idx.search("0142") == []


def test_putting_a_patient_again_replaces_the_old_details():
    idx = index(entry("a", "Jon", "Smith", chart="7"))
    idx.put(entry("a", "Jon", "Taylor", chart="8"))
    assert len(idx) == 1
    assert idx.search("smith") == []
    assert idx.search("taylor") == ["a"]
    assert idx.search("7") == []
    assert idx.search("8") == ["a"]


def test_archiving_by_putting_again_hides_the_patient():
    idx = index(entry("a", "Jon", "Smith"))
    idx.put(entry("a", "Jon", "Smith", archived=True))
    assert idx.search("smith") == []


def test_blank_search_finds_nothing_and_the_limit_is_kept():
    idx = index(*(entry(str(n), "Sam", f"Smith{n}") for n in range(20)))
    assert idx.search("   ") == []
    assert len(idx.search("sam", limit=5)) == 5
