"""Fuzzy grouping of unanswered questions: which open group a new one joins.

The writer clusters fallback questions against an in-memory index of the open groups'
comparison keys (:class:`GroupIndex`), so concurrent logging can never race on grouping
and grouping never scans the table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final

from rapidfuzz import fuzz, process, utils

_MATCH_CANDIDATES: Final = 5
_TOKEN_MATCH: Final = 80.0  # per-word similarity that still counts as the same word (typos)


def group_key(normalized: str) -> str:
    """Comparison form of a question: lower-case alphanumeric words, single-spaced."""
    return " ".join(utils.default_process(normalized).split())


def _covered(words: Iterable[str], other: list[str]) -> bool:
    return all(any(fuzz.ratio(w, o) >= _TOKEN_MATCH for o in other) for w in words)


def _same_question(a: str, b: str) -> bool:
    """True unless a word was *replaced* rather than added or misspelt.

    token_sort_ratio alone joins "syarat buat ktp baru" with "syarat buat kk baru" (92) and
    "apbd 2024" with "apbd 2025"; token_set_ratio is worse (any subset scores 100, so "vaksin"
    would swallow every vaccine question). Requiring one side's words to all appear in the
    other keeps "jadwal vaksin rabies gratis" + "... dmn" together and those apart.
    """
    wa, wb = a.split(), b.split()
    return _covered(wa, wb) or _covered(wb, wa)


class GroupIndex:
    """Comparison keys of open groups, so grouping never scans the table."""

    def __init__(self, threshold: float, keys: dict[int, str] | None = None) -> None:
        self.threshold = threshold
        self._keys: dict[int, str] = dict(keys or {})

    def copy(self) -> GroupIndex:
        return GroupIndex(self.threshold, self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._keys

    def add(self, group_id: int, key: str) -> None:
        self._keys[group_id] = key

    def discard(self, group_id: int) -> None:
        self._keys.pop(group_id, None)

    def match(self, key: str) -> int | None:
        """Best open group for ``key`` scoring at least the threshold, if any."""
        if not self._keys:
            return None
        candidates = process.extract(
            key,
            self._keys,
            scorer=fuzz.token_sort_ratio,  # word order varies between askers
            processor=None,  # keys are already processed
            score_cutoff=self.threshold,
            limit=_MATCH_CANDIDATES,
        )
        for _choice, _score, group_id in candidates:
            if _same_question(key, self._keys[group_id]):
                return int(group_id)
        return None


def load_group_index(con: sqlite3.Connection, threshold: float) -> GroupIndex:
    """The index of the open groups (on the connection's thread)."""
    rows = con.execute("SELECT id, normalized FROM unanswered_groups WHERE status = 'open'")
    return GroupIndex(threshold, {int(r["id"]): group_key(r["normalized"]) for r in rows})
