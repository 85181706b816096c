"""A button press with empty or missing callback data gets "menu kedaluwarsa".

SECURITY.md promises that callback data that does not parse gets a polite "menu
kedaluwarsa". PTB skips a handler's pattern when the data is empty, so the staff button
handler used to take such presses and answer "Perintah ini khusus petugas.". Run against
the real ``python -m bot run`` process, for a resident and for staff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.locale import Locale
from tests.support import BotApiStub, make_callback_update
from tests.support.bot_process import START_TIMEOUT, start_bot
from tests.support.harness import STAFF_ID


def press(user_id: int, **query: Any) -> dict[str, Any]:
    """A button press whose ``callback_query`` fields are replaced by ``query``
    (a value of None removes the field)."""
    update = make_callback_update("x", user_id=user_id)
    for key, value in query.items():
        if value is None:
            update["callback_query"].pop(key, None)
        else:
            update["callback_query"][key] = value
    return update


def test_presses_without_data_get_the_stale_menu_reply(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    locale = Locale.load()
    stale, staff_only = locale.t("callback.stale"), locale.t("staff.only")
    presses = [
        press(90_001, data=None),  # no data at all
        press(90_002, data=""),  # empty data
        press(90_003, data=None, game_short_name="kuis"),  # a game button
        press(STAFF_ID, data=None),
        press(STAFF_ID, data=""),
    ]
    bot = start_bot(stub, tmp_path, knowledge_dir)
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)
        stub.push_updates(*presses)
        answers = []
        for update in presses:
            query_id = update["callback_query"]["id"]
            answers.append(
                stub.wait_for(
                    "answerCallbackQuery", lambda c, q=query_id: c["callback_query_id"] == q
                )
            )
        code, _ = bot.stop()
    finally:
        bot.kill()
    texts = [a.get("text") for a in answers]
    print(f"\npresses without data: {texts.count(stale)}/{len(presses)} 'kedaluwarsa'")
    assert texts == [stale] * len(presses), texts
    assert staff_only not in texts
    assert all(a.get("show_alert") for a in answers)
    assert stub.calls("sendMessage") == []  # nothing of the log, nothing else
    assert code == 0 and "Traceback" not in bot.stderr, bot.stderr
