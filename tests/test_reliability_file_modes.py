"""Residents' ids and texts are readable by the bot's own user only.

The real ``python -m bot run`` process creates its data folder 0700 and its files
(the database, its WAL files, index snapshots) 0600; a database left 0644 by an older
version is tightened at start; a folder the database shares with other things is left
as it is (only the bot's own files are changed).
"""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support import BotApiStub, make_text_update
from tests.support.bot_process import START_TIMEOUT, BotProcess, start_bot
from tests.support.harness import UHC_QUESTION


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ask_and_stop(stub: BotApiStub, bot: BotProcess, user_id: int) -> None:
    try:
        mark = stub.mark()
        stub.wait_for("getUpdates", timeout=START_TIMEOUT, since=mark)
        stub.push_update(make_text_update(UHC_QUESTION, user_id=user_id))
        stub.wait_for("sendMessage", lambda c: c["chat_id"] == user_id, timeout=15)
        code, _ = bot.stop()
        assert code == 0, bot.stderr
    finally:
        bot.kill()


def modes_under(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder.parent)): oct(mode(p))
        for p in sorted([folder, *folder.rglob("*")])
    }


def test_a_fresh_start_creates_the_data_folder_0700_and_its_files_0600(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    bot = start_bot(stub, tmp_path, knowledge_dir)
    ask_and_stop(stub, bot, 95_001)
    data = bot.db_path.parent
    found = modes_under(data)
    print(f"\nfresh start: {found}")
    assert bot.db_path.exists() and any((data / "cache").iterdir())
    for path in [data, *data.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert mode(path) == expected, found


def test_an_old_world_readable_database_is_tightened_and_a_shared_folder_left_alone(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    # An earlier version left data/ 0755 and bot.db 0644.
    first = start_bot(stub, tmp_path, knowledge_dir)
    ask_and_stop(stub, first, 95_002)
    data = first.db_path.parent
    data.chmod(0o755)
    for path in data.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    again = start_bot(stub, tmp_path, knowledge_dir)
    ask_and_stop(stub, again, 95_003)
    assert all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in [data, *data.rglob("*")]), (
        modes_under(data)
    )

    # The database in a folder that also holds other things: only its files change.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    (shared / "notes.txt").write_text("not the bot's")
    (shared / "notes.txt").chmod(0o644)
    third = start_bot(
        stub,
        tmp_path,
        knowledge_dir,
        BOT_DB_PATH=str(shared / "bot.db"),
        BOT_CACHE_DIR=str(tmp_path / "cache-elsewhere"),
    )
    ask_and_stop(stub, third, 95_004)
    assert mode(shared) == 0o755 and mode(shared / "notes.txt") == 0o644
    assert mode(shared / "bot.db") == 0o600
