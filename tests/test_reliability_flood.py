"""Telegram's flood control that lasts: the real bot process keeps every reply until it lifts.

``sendMessage`` answers 429 with ``retry_after: 2`` for 20 seconds straight while 20
residents ask. Every resident must get exactly one answer once flood control lifts; no
request may come back sooner than ``retry_after`` said; the log gets one warning for the
outage (and an info line when it lifts), never a traceback.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

from tests.support import BotApiStub, make_text_update
from tests.support.bot_process import START_TIMEOUT, start_bot
from tests.support.harness import UHC_QUESTION

OUTAGE = 20.0
RETRY_AFTER = 2
RESIDENTS = 20


def test_replies_held_through_20_s_of_flood_control_are_all_delivered_once(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    users = set(range(70_000, 70_000 + RESIDENTS))
    bot = start_bot(stub, tmp_path, knowledge_dir, BOT_FLOOD_LIMIT="1000")
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)
        stub.fail_for("sendMessage", OUTAGE, retry_after=RETRY_AFTER)
        started = time.monotonic()
        stub.push_updates(*(make_text_update(UHC_QUESTION, user_id=u) for u in sorted(users)))
        deadline = started + OUTAGE + 20
        while True:
            delivered = [c for c in stub.calls("sendMessage") if c.ok]
            if {c["chat_id"] for c in delivered} >= users or time.monotonic() > deadline:
                break
            assert bot.proc.poll() is None, bot.stderr
            time.sleep(0.1)
        took = time.monotonic() - started
        time.sleep(1.0)  # any duplicate would arrive now
        code, _ = bot.stop()
    finally:
        bot.kill()

    attempts = stub.calls("sendMessage")
    delivered = [c for c in attempts if c.ok]
    per_chat = defaultdict(list)
    for call in attempts:
        per_chat[call["chat_id"]].append(call)
    print(
        f"\n{OUTAGE:.0f} s of 429 retry_after={RETRY_AFTER}: "
        f"{len({c['chat_id'] for c in delivered})}/{RESIDENTS} answered after {took:.1f} s, "
        f"{len(attempts)} attempts"
    )
    assert sorted(c["chat_id"] for c in delivered) == sorted(users), stub.dump()  # once each
    assert all(c.at >= started + OUTAGE - 0.5 for c in delivered)
    # retry_after honoured: no chat's request came back sooner than Telegram asked.
    for calls in per_chat.values():
        gaps = [b.at - a.at for a, b in pairwise(calls) if not a.ok]
        assert all(gap >= RETRY_AFTER - 0.2 for gap in gaps), gaps
    assert len(attempts) <= RESIDENTS * (OUTAGE / RETRY_AFTER + 2)

    log = bot.stderr
    assert code == 0, log
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    assert len(warnings) == 1 and "flood control" in warnings[0], log
    assert re.search(r"INFO bot\.telegram\.ratelimit: .*flood control lifted", log), log
    assert "Traceback" not in log and " ERROR " not in log, log
