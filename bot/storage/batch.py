"""One batch of log rows, planned on the event loop and written in one transaction.

A batch is written in two steps:

1. :func:`plan_batch`, on the event loop: the Python work - fuzzy matching of fallback
   questions against the group index, counting, building the rows - with a yield every
   few matches so handlers keep running.
2. :func:`apply_plan`, ONE call on the writer connection's own thread
   (:meth:`Connection.call`): a few executemany calls and the commit, in one transaction.

Why so: that thread shares the GIL with the event loop, and a busy loop can keep a thread
that waits for the GIL waiting until the loop next goes idle (see ``Connection.call``).
Hence the thread gets only short sqlite3 steps (cached statements, executemany, no query
over the whole batch: rowcounts tell whether the plan still holds), and while it works the
loop briefly blocks on its completion so it can have the GIL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import Any, Final

from bot.storage.connection import transaction
from bot.storage.grouping import GroupIndex, group_key
from bot.storage.records import (
    QUESTION_COLUMNS,
    FeedbackRow,
    QuestionRecord,
    question_values,
    utc_iso,
)

Item = QuestionRecord | FeedbackRow  # a validated row waiting in the buffer

_INSERT_QUESTION: Final = f"""INSERT INTO questions ({", ".join(QUESTION_COLUMNS)}, group_id)
    VALUES ({", ".join("?" * (len(QUESTION_COLUMNS) + 1))})
    ON CONFLICT (key) DO NOTHING"""
_TOUCH_CHAT: Final = """INSERT INTO chats (chat_id, last_active) VALUES (?, ?)
    ON CONFLICT (chat_id) DO UPDATE SET
        last_active = max(coalesce(last_active, ''), excluded.last_active),
        inactive_since = CASE WHEN inactive_since < excluded.last_active
                              THEN NULL ELSE inactive_since END"""
_NEW_GROUP: Final = """INSERT INTO unanswered_groups (id, status, example, normalized, count,
        first_seen, last_seen)
    VALUES (?, 'open', ?, ?, ?, ?, ?)"""
_BUMP_GROUP: Final = """UPDATE unanswered_groups
    SET count = count + ?2, last_seen = max(last_seen, ?3)
    WHERE id = ?1 AND status = 'open'"""
_UPSERT_FEEDBACK: Final = """INSERT INTO feedback (question_key, entry_id, value, user_id,
        created_at)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (question_key, user_id) DO UPDATE SET
        value = excluded.value, entry_id = excluded.entry_id"""

_MATCHES_PER_YIELD: Final = 32  # fuzzy matches between two yields to the event loop


@dataclass(slots=True)
class Plan:
    """One batch, ready to write. New groups carry provisional ids -1, -2, ... until the
    database thread knows the real ones (see ``apply_plan``)."""

    questions: list[tuple[Any, ...]]  # _INSERT_QUESTION values; group_id may be provisional
    new_groups: list[tuple[Any, ...]]  # (example, normalized, count, first_seen, last_seen)
    new_group_keys: list[str]  # index key of each new group, same order
    bumps: list[tuple[int, int, str]]  # (existing group id, questions added, latest asked_at)
    chats: list[tuple[int, str]]  # (chat_id, latest asked_at)
    votes: list[tuple[Any, ...]]  # _UPSERT_FEEDBACK values, in logging order
    index: GroupIndex  # the group index with this batch's changes (provisional new ids)


@dataclass(frozen=True, slots=True)
class Conflict:
    """The database changed under the plan (it was rolled back): plan again without these."""

    stored_keys: frozenset[str]  # questions already stored (a batch committed before)
    not_open: frozenset[int]  # groups another process closed since the index was loaded


class _Abort(Exception):
    """Raised inside the transaction to roll it back: the plan no longer holds."""

    def __init__(self, conflict: Conflict | None = None) -> None:
        super().__init__()
        self.conflict = conflict  # None: a question key was already stored


async def plan_batch(
    items: list[Item], groups: GroupIndex, skip: set[str], not_open: set[int]
) -> Plan:
    """Turn ``items`` into rows; group fallback questions as if each were committed alone.

    ``groups`` (the live index) is only read, and copied before any change. Questions
    in ``skip`` are left out, as are repeats of a key within the batch (the first wins);
    groups in ``not_open`` are dropped from the copy before matching.
    """
    plan = Plan([], [], [], [], [], [], groups)
    seen = set(skip)
    bumps: dict[int, list[Any]] = {}  # existing group id -> [count, latest]
    created: dict[int, list[Any]] = {}  # provisional id -> new group row
    last_active: dict[int, str] = {}  # per chat, only the latest time matters
    matches = 0
    for item in items:
        if isinstance(item, FeedbackRow):
            f = item
            plan.votes.append((f.question_key, f.entry_id, f.value, f.user_id, f.created_at))
            continue
        q = item
        if q.key in seen:
            continue
        seen.add(q.key)
        asked_at = utc_iso(q.asked_at)
        group_id = None
        if q.decision == "fallback":
            # The normaliser may strip everything (e.g. only slang fillers): use the text.
            representative = q.normalized if group_key(q.normalized) else q.text
            key = group_key(representative)
        else:
            key = ""
        if key:  # else emoji or punctuation only: nothing an admin could answer
            if plan.index is groups:  # first change: copy on write
                plan.index = groups.copy()
                for stale in not_open:  # closed by another process; the index was stale
                    plan.index.discard(stale)
            group_id = plan.index.match(key)
            if group_id is None:
                group_id = -1 - len(created)
                plan.index.add(group_id, key)
                plan.new_group_keys.append(key)
                created[group_id] = [q.text, representative, 1, asked_at, asked_at]
            elif group_id in created:
                row = created[group_id]
                row[2] += 1
                row[4] = max(row[4], asked_at)
            else:
                row = bumps.setdefault(group_id, [0, asked_at])
                row[0] += 1
                row[1] = max(row[1], asked_at)
            matches += 1
            if matches % _MATCHES_PER_YIELD == 0:
                await asyncio.sleep(0)  # matching is the costly part: let handlers run
        plan.questions.append((*question_values(q), group_id))
        if q.chat_id is not None and asked_at > last_active.get(q.chat_id, ""):
            last_active[q.chat_id] = asked_at
    plan.new_groups = [tuple(row) for row in created.values()]
    plan.bumps = [(group_id, n, latest) for group_id, (n, latest) in bumps.items()]
    plan.chats = list(last_active.items())
    return plan


def final_index(plan: Plan, first_new_id: int) -> GroupIndex:
    """The plan's index with the new groups under the ids the database gave them."""
    for k, key in enumerate(plan.new_group_keys):
        plan.index.discard(-1 - k)
        plan.index.add(first_new_id + k, key)
    return plan.index


def apply_plan(con: sqlite3.Connection, plan: Plan) -> int | Conflict:
    """Write a planned batch in one transaction, on the database thread.

    Returns the id of the first new group (the others follow it), or, after rolling
    back, a Conflict when the database held what the plan could not know about.
    """
    try:
        with transaction(con):
            return _write_plan(con, plan)
    except _Abort as abort:
        if abort.conflict is not None:
            return abort.conflict
    # Rolled back: keys stored before this batch stay; ours are gone.
    stored = frozenset(
        row[0]
        for row in plan.questions
        if con.execute("SELECT 1 FROM questions WHERE key = ?", (row[0],)).fetchone()
    )
    return Conflict(stored, frozenset())


def _write_plan(con: sqlite3.Connection, plan: Plan) -> int:
    """The statements of a batch, inside its transaction; _Abort when the plan fails."""
    if con.executemany(_BUMP_GROUP, plan.bumps).rowcount < len(plan.bumps):
        closed = frozenset(
            group_id
            for group_id, _n, _latest in plan.bumps
            if not con.execute(
                "SELECT 1 FROM unanswered_groups WHERE id = ? AND status = 'open'",
                (group_id,),
            ).fetchone()
        )
        raise _Abort(Conflict(frozenset(), closed))
    questions = plan.questions
    first_new_id = 0
    if plan.new_groups:
        # The ids SQLite would choose itself, one after another.
        [(top,)] = con.execute("SELECT coalesce(max(id), 0) FROM unanswered_groups")
        first_new_id = int(top) + 1
        con.executemany(
            _NEW_GROUP, [(first_new_id + k, *row) for k, row in enumerate(plan.new_groups)]
        )
        questions = [
            row if row[-1] is None or row[-1] > 0 else (*row[:-1], first_new_id - 1 - row[-1])
            for row in questions
        ]
    if con.executemany(_INSERT_QUESTION, questions).rowcount < len(questions):
        raise _Abort()
    con.executemany(_TOUCH_CHAT, plan.chats)
    con.executemany(_UPSERT_FEEDBACK, plan.votes)
    return first_new_id
