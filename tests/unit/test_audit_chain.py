"""The audit hash chain notices any edit, gap, reordering or truncation."""

from dataclasses import replace

from sync.audit_chain import GENESIS, ChainedEvent, event_hash, verify_chain


def build_chain(n: int) -> list[ChainedEvent]:
    events, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = {"action": "patient.opened", "username": f"user{seq}", "details": f'{{"n": {seq}}}'}
        h = event_hash(prev, seq, fields)
        events.append(ChainedEvent(seq, prev, h, fields))
        prev = h
    return events


def head_of(events: list[ChainedEvent]) -> tuple[int, str]:
    return events[-1].seq, events[-1].hash


def test_an_intact_chain_verifies():
    events = build_chain(5)
    assert verify_chain(events, head_of(events)) is None


def test_an_empty_chain_with_no_head_verifies():
    assert verify_chain([], None) is None


def test_an_edited_field_is_found_at_that_event():
    events = build_chain(5)
    events[2] = replace(events[2], fields={**events[2].fields, "username": "mallory"})
    broken = verify_chain(events, head_of(build_chain(5)))
    assert broken is not None
    assert broken.seq == 3
    assert "altered" in broken.reason


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link():
    events = build_chain(5)
    fields = {**events[2].fields, "details": "{}"}
    events[2] = replace(events[2], fields=fields, hash=event_hash(events[2].prev_hash, 3, fields))
    broken = verify_chain(events, head_of(events))
    assert broken is not None and broken.seq == 4


def test_a_removed_middle_event_is_reported_missing():
    events = build_chain(5)
    head = head_of(events)
    del events[2]
    broken = verify_chain(events, head)
    assert broken is not None
    assert broken.seq == 3
    assert broken.reason == "event 3 is missing"


def test_removing_the_newest_events_is_found_through_the_head():
    events = build_chain(5)
    head = head_of(events)
    broken = verify_chain(events[:3], head)
    assert broken is not None
    assert broken.seq == 4
    assert broken.reason == "events 4 to 5 are missing"


def test_removing_every_event_is_found_through_the_head():
    events = build_chain(2)
    broken = verify_chain([], head_of(events))
    assert broken is not None and broken.seq == 1


def test_a_head_that_does_not_match_the_last_event_is_reported():
    events = build_chain(3)
    broken = verify_chain(events, (3, "f" * 64))
    assert broken is not None
    assert broken.seq == 3
    assert "chain head" in broken.reason


def test_swapping_two_events_content_is_found():
    events = build_chain(5)
    a, b = events[1], events[2]
    events[1] = ChainedEvent(2, b.prev_hash, b.hash, b.fields)
    events[2] = ChainedEvent(3, a.prev_hash, a.hash, a.fields)
    broken = verify_chain(events, head_of(build_chain(5)))
    assert broken is not None
    assert broken.seq == 2


def test_swapping_the_order_of_two_events_is_found():
    events = build_chain(5)
    events[1], events[2] = events[2], events[1]
    broken = verify_chain(events, head_of(build_chain(5)))
    assert broken is not None
    assert broken.seq == 2
    assert broken.reason == "event 2 is missing"


def test_the_hash_depends_on_the_sequence_number_and_previous_hash():
    fields = {"action": "x"}
    assert event_hash(GENESIS, 1, fields) != event_hash(GENESIS, 2, fields)
    assert event_hash(GENESIS, 1, fields) != event_hash("1" * 64, 1, fields)
    assert event_hash(GENESIS, 1, {"a": 1, "b": 2}) == event_hash(GENESIS, 1, {"b": 2, "a": 1})
