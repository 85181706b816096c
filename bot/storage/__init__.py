"""SQLite persistence: question log, feedback, unanswered-question groups, chat state.

The package, by concern:

* ``records`` - the records kept (a question's fields declared once, in
  ``QuestionRecord``), their limits, and how values become SQL values;
* ``schema`` - forward-only migrations tracked by ``PRAGMA user_version``;
* ``connection`` - a sqlite3 connection on a thread of its own, the one transaction
  helper, and what SQLite's errors mean (unavailable, a bad row, reopen);
* ``grouping`` - fuzzy grouping of unanswered questions into open groups;
* ``batch`` - one batch of log rows: planned on the event loop, written in ONE call on
  the writer connection's thread, in one transaction;
* ``writer`` - the buffered writer: ``log_question`` / ``log_feedback`` never raise nor
  block; rows survive a locked, full or read-only database in a bounded buffer;
* ``store`` - :class:`Storage`, the facade: lifecycle, admin writes and queries.

Everything a caller needs is imported from here: ``from bot.storage import Storage``.
"""

from bot.storage.records import (
    CHAT_TYPES,
    DECISIONS,
    EXPORT_COLUMNS,
    GROUP_STATUSES,
    MAX_KEY_LEN,
    MAX_TEXT_LEN,
    EntryFeedback,
    Group,
    QuestionRecord,
    Stats,
    StorageError,
    StorageUnavailable,
    new_key,
)
from bot.storage.schema import MIGRATIONS, SCHEMA_VERSION, Migration
from bot.storage.store import Storage

__all__ = [
    "CHAT_TYPES",
    "DECISIONS",
    "EXPORT_COLUMNS",
    "GROUP_STATUSES",
    "MAX_KEY_LEN",
    "MAX_TEXT_LEN",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "EntryFeedback",
    "Group",
    "Migration",
    "QuestionRecord",
    "Stats",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "new_key",
]
