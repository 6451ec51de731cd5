"""The audit hash chain: each event's hash covers its content and the previous hash.

Shared by the workstation (which writes the chain) and the cloud (which checks every event
it is sent against its hash, and keeps them append-only).
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def event_hash(prev_hash: str, seq: int, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash, the sequence number and the event's fields."""
    canonical = json.dumps(
        {"prev": prev_hash, "seq": seq, "fields": fields},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ChainedEvent:
    seq: int
    prev_hash: str
    hash: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def verify_chain(events: Iterable[ChainedEvent], head: tuple[int, str] | None) -> ChainBreak | None:
    """The first place the chain is broken (edit, gap, reorder, truncation), or None."""
    expected_prev = GENESIS
    expected_seq = 1
    for ev in events:
        if ev.seq != expected_seq:
            return ChainBreak(expected_seq, f"event {expected_seq} is missing")
        if ev.prev_hash != expected_prev:
            return ChainBreak(ev.seq, f"event {ev.seq} does not follow event {ev.seq - 1}")
        if event_hash(ev.prev_hash, ev.seq, ev.fields) != ev.hash:
            return ChainBreak(ev.seq, f"event {ev.seq} was altered")
        expected_prev = ev.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq > last_seq:
            return ChainBreak(last_seq + 1, f"events {last_seq + 1} to {head_seq} are missing")
        if head_seq != last_seq or head_hash != expected_prev:
            return ChainBreak(last_seq, f"event {last_seq} does not match the chain head")
    return None
