"""The schema: forward-only migrations tracked by ``PRAGMA user_version``."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Final

from bot.storage.connection import transaction
from bot.storage.records import StorageError

logger = logging.getLogger("bot.storage")


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


# Forward-only. Never edit a released migration: append a new one. Each runs in its own
# transaction together with its ``PRAGMA user_version`` bump, so a failure leaves the
# database at the previous version. No foreign keys on purpose: log rows arrive through a
# lossy buffer (a vote may outlive its dropped question) and must never fail a whole batch.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "initial schema",
        (
            """CREATE TABLE questions (
                key         TEXT PRIMARY KEY,
                asked_at    TEXT NOT NULL,
                chat_type   TEXT NOT NULL,
                user_id     INTEGER,
                chat_id     INTEGER,
                message_id  INTEGER,
                text        TEXT NOT NULL,
                normalized  TEXT NOT NULL,
                decision    TEXT NOT NULL,
                entry_id    TEXT,
                score       REAL NOT NULL DEFAULT 0,
                latency_ms  REAL NOT NULL DEFAULT 0,
                group_id    INTEGER
            )""",
            """CREATE TABLE feedback (
                id           INTEGER PRIMARY KEY,
                question_key TEXT NOT NULL,
                entry_id     TEXT NOT NULL,
                value        INTEGER NOT NULL,
                user_id      INTEGER,
                created_at   TEXT NOT NULL
            )""",
            # NULL user ids are distinct in a UNIQUE index, so anonymous votes never collide.
            "CREATE UNIQUE INDEX feedback_one_vote ON feedback (question_key, user_id)",
            """CREATE TABLE unanswered_groups (
                id          INTEGER PRIMARY KEY,
                status      TEXT NOT NULL DEFAULT 'open',
                example     TEXT NOT NULL,
                normalized  TEXT NOT NULL,
                count       INTEGER NOT NULL DEFAULT 1,
                first_seen  TEXT NOT NULL,
                last_seen   TEXT NOT NULL,
                answered_at TEXT,
                answer_text TEXT,
                entry_id    TEXT
            )""",
            """CREATE TABLE chats (
                chat_id        INTEGER PRIMARY KEY,
                inactive_since TEXT
            )""",
        ),
    ),
    Migration(
        2,
        "chat activity and read indexes",
        (
            # A chat that asks again after blocking the bot is reachable again.
            "ALTER TABLE chats ADD COLUMN last_active TEXT",
            """INSERT INTO chats (chat_id, last_active)
               SELECT chat_id, MAX(asked_at) FROM questions
               WHERE chat_id IS NOT NULL GROUP BY chat_id
               ON CONFLICT (chat_id) DO UPDATE SET last_active = excluded.last_active""",
            "CREATE INDEX questions_asked_at ON questions (asked_at)",
            "CREATE INDEX questions_group ON questions (group_id) WHERE group_id IS NOT NULL",
            "CREATE INDEX groups_status_rank ON unanswered_groups (status, count, last_seen)",
            "CREATE INDEX feedback_created_at ON feedback (created_at)",
        ),
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
assert all(m.version == i for i, m in enumerate(MIGRATIONS, 1)), "migrations must be 1..n"


def _user_version(con: sqlite3.Connection) -> int:
    [version] = con.execute("PRAGMA user_version").fetchone()
    return int(version)


def migrate(con: sqlite3.Connection) -> None:
    """Bring the database to SCHEMA_VERSION, one migration per transaction (on the
    connection's thread: ``await db.run(migrate)``)."""
    version = _user_version(con)
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"database schema v{version} is newer than this code (v{SCHEMA_VERSION})"
        )
    while version < SCHEMA_VERSION:
        with transaction(con):
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = _user_version(con)
            if version >= SCHEMA_VERSION:
                break
            migration = MIGRATIONS[version]
            for statement in migration.statements:
                con.execute(statement)
            # PRAGMA takes no parameters; the value is our own int, never user input.
            con.execute(f"PRAGMA user_version = {int(migration.version)}")
        logger.info("schema migrated to v%d (%s)", migration.version, migration.description)
        version = migration.version
