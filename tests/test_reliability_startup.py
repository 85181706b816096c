"""Start-up failures an operator can fix end in one line that says what to do.

The real ``python -m bot run`` process:

* with a token Telegram refuses (401 on ``getMe``): exit 1 after one line saying the
  token was refused and what to do, never the token, never a traceback;
* with a token revoked while it runs (401 on every call): exit 1 after one line, the
  questions it had answered logged;
* with a database it cannot write (a read-only file, or a folder it may not create):
  exit 2 after one line naming the path and the fix.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.locale import Locale
from bot.storage import Storage
from tests.support import BotApiStub, make_text_update
from tests.support.bot_process import START_TIMEOUT, BotProcess, start_bot
from tests.support.harness import UHC_QUESTION

WRONG_TOKEN = "999:WRONGtokenSecretPart"


def finish(bot: BotProcess) -> tuple[int, list[str]]:
    """Exit code, and the log lines at WARNING or above."""
    try:
        code = bot.proc.wait(timeout=START_TIMEOUT)
    finally:
        bot.kill()
    levels = (" WARNING ", " ERROR ", " CRITICAL ")
    return code, [line for line in bot.stderr.splitlines() if any(lv in line for lv in levels)]


def without_file_permission_override() -> list[str]:
    """A prefix under which root, too, obeys file modes (it drops CAP_DAC_OVERRIDE)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_a_token_telegram_refuses_stops_the_bot_with_one_line(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    bot = start_bot(stub, tmp_path, knowledge_dir, TELEGRAM_BOT_TOKEN=WRONG_TOKEN)
    code, problems = finish(bot)
    log = bot.stderr
    print(f"\ntoken refused: exit {code}, {len(problems)} warning/error line(s)")
    assert stub.calls("getMe") and not stub.calls("getMe")[0].ok  # really a 401
    assert code == 1, log
    assert len(problems) == 1, log
    assert problems[0].endswith(Locale.load().t("startup.token_refused")), log
    assert "Traceback" not in log
    assert WRONG_TOKEN not in log and "WRONGtokenSecretPart" not in log


def _migrated_database(path: Path) -> None:
    async def create() -> None:
        storage = await Storage.open(path)
        await storage.close()

    asyncio.run(create())


@pytest.mark.parametrize("case", ["read-only file", "folder not creatable"])
def test_a_database_the_bot_cannot_write_stops_it_with_one_line_and_exit_2(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path, case: str
) -> None:
    prefix = without_file_permission_override()
    locked = tmp_path / "locked"
    locked.mkdir()
    if case == "read-only file":
        db_path = locked / "bot.db"
        _migrated_database(db_path)
        for leftover in locked.glob("bot.db-*"):
            leftover.unlink()
        db_path.chmod(0o444)
    else:
        db_path = locked / "data" / "bot.db"
    locked.chmod(0o555)
    try:
        bot = start_bot(
            stub,
            tmp_path,
            knowledge_dir,
            prefix=prefix,
            BOT_DB_PATH=str(db_path),
            BOT_CACHE_DIR=str(tmp_path / "cache"),
        )
        code, problems = finish(bot)
    finally:
        locked.chmod(0o755)
    log = bot.stderr
    print(f"\n{case}: exit {code}, {len(problems)} warning/error line(s): {problems[-1:]}")
    assert code == 2, log
    assert len(problems) == 1, log
    assert " CRITICAL " in problems[0] and str(db_path) in problems[0], log
    fix = Locale.load().t("startup.db_unusable", path=str(db_path), reason="")
    assert "BOT_DB_PATH" in problems[0] and fix.split("(")[0] in problems[0], log
    assert "Traceback" not in log
    if case == "read-only file":  # the bot took group/other access away, never added write
        assert db_path.stat().st_mode & 0o777 == 0o400


def test_a_token_revoked_while_running_stops_the_bot_with_one_line(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    """PTB's polling gives up on a refused token for good; the process must not stay up,
    deaf: it answers what it has, flushes the log, says so in one line and exits 1."""
    bot = start_bot(stub, tmp_path, knowledge_dir)
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)
        stub.push_update(make_text_update(UHC_QUESTION, user_id=81_001))
        stub.wait_for("sendMessage", lambda c: c["chat_id"] == 81_001, timeout=START_TIMEOUT)
        stub.fail_for("*", 120, status=401, description="Unauthorized")  # revoked
        code, problems = finish(bot)
    finally:
        bot.kill()
    log = bot.stderr
    print(f"\ntoken revoked while running: exit {code}, {len(problems)} warning/error line(s)")
    assert code == 1, log
    assert len(problems) == 1 and "while the bot was running" in problems[0], log
    assert problems[0].endswith(Locale.load().t("startup.token_refused")), log
    assert "Traceback" not in log, log
    with sqlite3.connect(tmp_path / "data" / "bot.db") as db:
        assert db.execute("SELECT user_id FROM questions").fetchall() == [(81_001,)]
