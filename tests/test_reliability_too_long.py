"""A reply Telegram refuses as "message is too long" still reaches the resident.

The stand-in Bot API refuses any text over a limit, as Telegram does over 4096 units;
here the limit is set low (as a self-hosted Bot API or a future limit might be) so an
ordinary answer is refused. The real bot process must send the answer split into parts
that fit, each part once, the buttons on the last part, with one warning and no
traceback; a one-off refusal is handled the same way.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

from tests.support import BotApiStub, Call, make_text_update
from tests.support.bot_process import START_TIMEOUT, start_bot
from tests.support.harness import UHC_QUESTION

LIMIT = 250


def visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def buttons(call: Call) -> list[list[str]]:
    return [[b["text"] for b in row] for row in call["reply_markup"]["inline_keyboard"]]


def replies(stub: BotApiStub, chat_id: int, timeout: float = 15.0) -> list[Call]:
    """The successful sendMessage calls to ``chat_id``, once the one with buttons is in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = [c for c in stub.calls("sendMessage") if c["chat_id"] == chat_id]
        if any(c.ok and c.get("reply_markup") for c in calls):
            time.sleep(0.5)  # anything sent twice would come now
            return [c for c in stub.calls("sendMessage") if c["chat_id"] == chat_id and c.ok]
        time.sleep(0.05)
    raise AssertionError(stub.dump())


def test_an_answer_refused_as_too_long_is_sent_in_parts(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    bot = start_bot(stub, tmp_path, knowledge_dir)
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)
        # The whole answer, as Telegram would take it.
        stub.push_update(make_text_update(UHC_QUESTION, user_id=80_001))
        [whole] = replies(stub, 80_001)
        assert len(visible(whole["text"])) > LIMIT  # the limit below really bites

        stub.text_limit = LIMIT
        stub.push_update(make_text_update(UHC_QUESTION, user_id=80_002))
        parts = replies(stub, 80_002)
        refused = [c for c in stub.calls("sendMessage") if c["chat_id"] == 80_002 and not c.ok]

        # A one-off refusal (Telegram's own limit, counted its way).
        stub.text_limit = None
        stub.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
        stub.push_update(make_text_update(UHC_QUESTION, user_id=80_003))
        once = replies(stub, 80_003)
        code, _ = bot.stop()
    finally:
        bot.kill()

    print(
        f"\nanswer of {len(visible(whole['text']))} characters, limit {LIMIT}: "
        f"{len(refused)} refused, sent in {len(parts)} parts; one-off refusal: {len(once)} parts"
    )
    assert refused and all(len(visible(c["text"])) <= LIMIT for c in parts)
    for sent in (parts, once):
        assert len(sent) >= 2
        # Together the parts are the whole answer (cut at line breaks or spaces), once.
        joined = "".join(c["text"] for c in sent)
        assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", whole["text"])
        assert [bool(c.get("reply_markup")) for c in sent] == [False] * (len(sent) - 1) + [True]
        assert buttons(sent[-1]) == buttons(whole)
    log = bot.stderr
    assert code == 0, log
    assert "Traceback" not in log and " ERROR " not in log, log
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    assert len(warnings) == 2 and all("too long" in w for w in warnings), log
