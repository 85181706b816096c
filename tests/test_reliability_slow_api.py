"""A slow Bot API never makes the bot send one answer twice.

Telegram answering ``sendMessage`` after 6-10 s used to hit PTB's 5 s read timeout; the
bot then sent the message again although the first one had gone through, and every
resident got their answer twice. Timeouts now fit the API's real latency, and a send
whose answer timed out is not repeated (it may have arrived); one that never left (a
connect timeout) still is.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram.error import TimedOut

from bot.telegram import ratelimit
from bot.telegram.ratelimit import may_have_arrived
from tests.support import BotApiStub, make_text_update
from tests.support.bot_process import START_TIMEOUT, start_bot
from tests.support.harness import UHC_QUESTION, Harness

RESIDENTS = 10
DELAY = 7.0  # seconds Telegram takes to answer each sendMessage


def timed_out(cause: BaseException | None) -> TimedOut:
    error = TimedOut()
    error.__cause__ = cause
    return error


def test_only_a_send_whose_answer_timed_out_may_have_arrived() -> None:
    read, connect = httpx.ReadTimeout("slow"), httpx.ConnectTimeout("no route")
    assert may_have_arrived("sendMessage", timed_out(read))
    assert may_have_arrived("sendDocument", timed_out(read))
    assert not may_have_arrived("sendMessage", timed_out(connect))  # it never left
    assert not may_have_arrived("sendMessage", timed_out(None))
    assert not may_have_arrived("editMessageText", timed_out(read))  # repeating is harmless
    assert not may_have_arrived("getUpdates", timed_out(read))


async def test_a_send_that_timed_out_reading_is_not_sent_again(
    make_bot: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "NETWORK_BACKOFF", 0.01)
    bot: Harness = await make_bot(rate_limit=True)
    bot.req.fail_next("sendMessage", exc=timed_out(httpx.ReadTimeout("slow")))
    calls = await bot.send(make_text_update(UHC_QUESTION))
    attempts = [c for c in calls if c.method == "sendMessage"]
    assert len(attempts) == 1, "a send that may have arrived must not be repeated"
    warned = [r for r in caplog.records if "not sent again" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING

    bot.req.fail_next("sendMessage", exc=timed_out(httpx.ConnectTimeout("no route")))
    calls = await bot.send(make_text_update(UHC_QUESTION, user_id=4242))
    assert [c.ok for c in calls if c.method == "sendMessage"] == [False, True]


def test_a_bot_api_answering_after_7_s_gets_every_reply_exactly_once(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    users = list(range(71_000, 71_000 + RESIDENTS))
    bot = start_bot(stub, tmp_path, knowledge_dir, BOT_FLOOD_LIMIT="1000")
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)
        stub.delay_next("sendMessage", DELAY, times=RESIDENTS)
        started = time.monotonic()
        stub.push_updates(*(make_text_update(UHC_QUESTION, user_id=u) for u in users))
        while time.monotonic() < started + DELAY + 30:
            delivered = {c["chat_id"] for c in stub.calls("sendMessage") if c.ok}
            if delivered >= set(users):
                break
            assert bot.proc.poll() is None, bot.stderr
            time.sleep(0.2)
        time.sleep(2.0)  # a retry would arrive now
        code, _ = bot.stop()
    finally:
        bot.kill()
    per_chat = Counter(c["chat_id"] for c in stub.calls("sendMessage"))
    sends = sorted(per_chat.values())
    print(f"\nBot API answering after {DELAY:.0f} s: sends per resident {sends}")
    assert per_chat == Counter(users), stub.dump()  # each resident: one send, no repeat
    log = bot.stderr
    assert code == 0, log
    assert "Traceback" not in log and " ERROR " not in log, log
