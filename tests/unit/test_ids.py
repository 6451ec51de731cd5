"""Row ids are UUIDv7, made on the workstation, and sort in the order they were made."""

import time
import uuid

from app.domain.ids import new_id


def test_a_new_id_is_a_version_7_rfc_uuid():
    text = new_id()
    value = uuid.UUID(text)
    assert str(value) == text
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_the_id_carries_the_current_time_in_milliseconds():
    before = time.time_ns() // 1_000_000
    value = uuid.UUID(new_id())
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after + 1


def test_ten_thousand_consecutive_ids_strictly_increase_as_text():
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(a < b for a, b in zip(ids, ids[1:], strict=False))
    assert all(uuid.UUID(i).version == 7 for i in ids)
