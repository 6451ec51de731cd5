"""Ranked, typo-tolerant patient lookup by name, date of birth, phone or chart number.

Kept in memory (a clinic has at most tens of thousands of patients) so each keystroke
costs a millisecond or two; the service keeps it in step with the database.
"""

import heapq
import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from app.domain.dates import candidate_dates

_TOKEN = re.compile(r"[a-z0-9]+")
_DATEISH = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")


def fold(text: str) -> str:
    """Lower case without accents: 'Zoë Ó Briain' -> 'zoe o briain'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_tokens(*names: str) -> set[str]:
    """Searchable tokens of names; 'Smith-Jones' gives smith, jones and smithjones."""
    tokens: set[str] = set()
    for name in names:
        folded = fold(name)
        parts = _TOKEN.findall(folded)
        tokens.update(parts)
        if len(parts) > 1:
            tokens.add("".join(parts))
    return tokens


@dataclass(frozen=True)
class SearchEntry:
    patient_id: str
    chart_no: str
    names: tuple[str, ...]
    sort_name: str
    date_of_birth: date | None
    phone_digits: tuple[str, ...]
    archived: bool


class PatientIndex:
    """Patients by name token, date of birth, phone digits and chart number."""

    def __init__(self) -> None:
        self._entries: dict[str, SearchEntry] = {}
        self._tokens: dict[str, set[str]] = defaultdict(set)
        self._sorted_tokens: list[str] | None = []
        self._by_dob: dict[date, set[str]] = defaultdict(set)
        self._by_chart: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, entry: SearchEntry) -> None:
        """Add or replace one patient."""
        self.remove(entry.patient_id)
        self._entries[entry.patient_id] = entry
        for token in name_tokens(*entry.names):
            if token not in self._tokens:
                self._sorted_tokens = None
            self._tokens[token].add(entry.patient_id)
        if entry.date_of_birth:
            self._by_dob[entry.date_of_birth].add(entry.patient_id)
        if entry.chart_no:
            self._by_chart[fold(entry.chart_no)] = entry.patient_id

    def remove(self, patient_id: str) -> None:
        old = self._entries.pop(patient_id, None)
        if old is None:
            return
        for token in name_tokens(*old.names):
            ids = self._tokens.get(token)
            if ids is not None:
                ids.discard(patient_id)
                if not ids:
                    del self._tokens[token]
                    self._sorted_tokens = None
        if old.date_of_birth:
            self._by_dob[old.date_of_birth].discard(patient_id)
        if old.chart_no and self._by_chart.get(fold(old.chart_no)) == patient_id:
            del self._by_chart[fold(old.chart_no)]

    def _token_list(self) -> list[str]:
        if self._sorted_tokens is None:
            self._sorted_tokens = sorted(self._tokens)
        return self._sorted_tokens

    def _match_token(self, q: str) -> dict[str, int]:
        """Patient id -> best score for one typed token (exact > prefix > near miss)."""
        scores: dict[str, int] = {}

        def award(token: str, score: int) -> None:
            for pid in self._tokens[token]:
                if scores.get(pid, 0) < score:
                    scores[pid] = score

        tokens = self._token_list()
        start = bisect_left(tokens, q)
        for token in tokens[start:]:
            if not token.startswith(q):
                break
            award(token, 100 if token == q else 80)
        if len(q) >= 3:
            # a slip of one key (two for long names), whether the name is whole or half typed
            allowed = 1 if len(q) < 7 else 2
            heads: dict[str, list[str]] = defaultdict(list)
            for token in tokens:
                if len(token) >= len(q) - allowed:
                    heads[token[: len(q)]].append(token)
            for head, dist, _ in process.extract(
                q, list(heads), scorer=DamerauLevenshtein.distance, score_cutoff=allowed, limit=None
            ):
                for token in heads[head]:
                    full = DamerauLevenshtein.distance(q, token) if len(token) != len(head) else dist
                    award(token, 60 - 10 * min(dist, full) if full <= allowed else 45 - 10 * dist)
        return scores

    def search(self, text: str, *, include_archived: bool = False, limit: int = 50) -> list[str]:
        """Ids of the patients best matching what was typed, best first."""
        text = text.strip()
        if not text:
            return []
        scores: dict[str, int] = {}
        if _DATEISH.match(text):
            for d in candidate_dates(text):
                for pid in self._by_dob.get(d, ()):
                    scores[pid] = 200
        else:
            digits = "".join(c for c in text if c.isdigit())
            letters = any(c.isalpha() for c in text)
            if digits and not letters or fold(text) in self._by_chart:
                self._match_numbers(fold(text), digits, scores)
            if letters:
                self._match_names(text, scores)
        ranked = ((score, pid) for pid, score in scores.items() if include_archived or not self._entries[pid].archived)
        best = heapq.nlargest(limit, ranked, key=lambda sp: (sp[0], not self._entries[sp[1]].archived))
        # equal scores read best in alphabetical order
        best.sort(key=lambda sp: (-sp[0], self._entries[sp[1]].archived, self._entries[sp[1]].sort_name))
        return [pid for _, pid in best]

    def _match_numbers(self, folded: str, digits: str, scores: dict[str, int]) -> None:
        exact = self._by_chart.get(folded)
        if exact:
            scores[exact] = 300
        if len(digits) >= 4:
            for entry in self._entries.values():
                if any(p.endswith(digits) for p in entry.phone_digits):
                    scores[entry.patient_id] = max(scores.get(entry.patient_id, 0), 150)

    def _match_names(self, text: str, scores: dict[str, int]) -> None:
        query = _TOKEN.findall(fold(text))
        combined: dict[str, int] | None = None
        for q in query:
            found = self._match_token(q)
            if combined is None:
                combined = found
            else:
                combined = {pid: s + found[pid] for pid, s in combined.items() if pid in found}
            if not combined:
                return
        for pid, s in (combined or {}).items():
            scores[pid] = max(scores.get(pid, 0), s)

    def entry(self, patient_id: str) -> SearchEntry | None:
        return self._entries.get(patient_id)
