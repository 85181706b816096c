"""Updates the library cannot read never make the real bot deaf.

A self-hosted Bot API server older than the library sends polls without
``allows_revoting``/``persistent_id``; a broken proxy may send ``"message": "hello"``.
python-telegram-bot cannot turn either into an ``Update``. The real ``python -m bot run``
process must log each such update once (one line, no traceback), confirm it (the
``getUpdates`` offset moves past it) and go on answering everything else, in the same
batch and afterwards; SIGTERM still stops it at once and a restart is not deaf. In
webhook mode a body that cannot be read is answered 200 (Telegram would otherwise send
it again and again) with one log line.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import BotApiStub, make_message, make_text_update
from tests.support.bot_process import START_TIMEOUT, BotProcess, free_port, start_bot
from tests.support.harness import UHC_QUESTION
from tests.support.updates import next_update_id

REPLY_TIMEOUT = 20.0
STOP_LIMIT = 5.0  # seconds SIGTERM may take
SKIPPED = re.compile(r"WARNING bot\.telegram\.updates: skipped update (\d+)")


def poll_without_revoting(user_id: int) -> dict[str, Any]:
    """A message carrying a poll as a Bot API server older than 9.6 sends it."""
    poll = {
        "id": f"poll-{user_id}",
        "question": "Setuju?",
        "options": [{"text": "ya", "voter_count": 0}, {"text": "tidak", "voter_count": 0}],
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
    }
    return {"update_id": next_update_id(), "message": make_message(user_id=user_id, poll=poll)}


def message_is_a_string() -> dict[str, Any]:
    return {"update_id": next_update_id(), "message": "hello"}


def question(user_id: int) -> dict[str, Any]:
    return make_text_update(UHC_QUESTION, user_id=user_id)


def answered(stub: BotApiStub, users: set[int], timeout: float = REPLY_TIMEOUT) -> set[int]:
    """The users in ``users`` who got a reply within ``timeout`` (waits for all of them)."""
    deadline = time.monotonic() + timeout
    while True:
        got = {c["chat_id"] for c in stub.calls("sendMessage") if c.ok} & users
        if got == users or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def skipped_ids(log: str) -> list[int]:
    return [int(m) for m in SKIPPED.findall(log)]


def confirmed_past(stub: BotApiStub, update_id: int, timeout: float = REPLY_TIMEOUT) -> bool:
    """A getUpdates call carried an offset past ``update_id`` (Telegram may forget it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(int(c.get("offset") or 0) > update_id for c in stub.calls("getUpdates")):
            return True
        time.sleep(0.05)
    return False


def stop(bot: BotProcess) -> tuple[int, float]:
    code, took = bot.stop()
    assert took < STOP_LIMIT, f"SIGTERM took {took:.1f} s\n{bot.stderr}"
    return code, took


def test_a_poisoned_update_in_a_batch_is_skipped_once_and_the_rest_answered(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    bot = start_bot(stub, tmp_path, knowledge_dir)
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT)
        # One batch: good, poison, good, poison, good, good, good, poison (last).
        good = [question(60_001), question(60_002)]
        poison = [poll_without_revoting(60_100)]
        good += [question(60_003)]
        poison += [message_is_a_string()]
        good += [question(60_004), question(60_005)]
        last_poison = poll_without_revoting(60_101)
        batch = [good[0], poison[0], good[1], good[2], poison[1], good[3], good[4], last_poison]
        batch.sort(key=lambda u: u["update_id"])
        poison.append(last_poison)
        stub.push_updates(*batch)

        users = {u["message"]["chat"]["id"] for u in good}
        got = answered(stub, users)
        print(f"\npoisoned batch: {len(got)}/{len(users)} good questions answered")
        assert got == users, f"{len(got)}/{len(users)} answered\n{stub.dump()}\n{bot.stderr}"
        assert confirmed_past(stub, last_poison["update_id"]), stub.dump()

        # ... and afterwards: a later question, and a poison on its own.
        stub.push_updates(message_is_a_string())
        later = question(60_006)
        stub.push_updates(later)
        assert answered(stub, {60_006}) == {60_006}, bot.stderr
        assert confirmed_past(stub, later["update_id"]), stub.dump()

        code, took = stop(bot)
        print(f"SIGTERM after the poison: exit {code} in {took:.2f} s")
        assert code == 0, bot.stderr
    finally:
        bot.kill()

    log = bot.stderr
    poison_ids = sorted(u["update_id"] for u in poison)
    assert sorted(skipped_ids(log))[: len(poison_ids)] == poison_ids, log
    assert len(skipped_ids(log)) == len(poison_ids) + 1, log  # each logged exactly once
    assert "Traceback" not in log, log
    assert "hello" not in log  # a resident's content is never written to the log
    assert stub.pending_updates() == []
    # The poison was fetched once: no getUpdates call ever asked for it twice.
    first = min(poison_ids)
    offsets = [int(c.get("offset") or 0) for c in stub.calls("getUpdates")]
    assert sum(1 for o in offsets if 0 < o <= first) <= 1, offsets


def test_a_restart_with_a_poisoned_update_pending_is_not_deaf(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    # The poison is already waiting when the bot starts (as after the old bug's restart).
    poison = poll_without_revoting(61_100)
    stub.push_updates(poison, question(61_001), message_is_a_string())
    bot = start_bot(stub, tmp_path, knowledge_dir)
    try:
        assert answered(stub, {61_001}, timeout=START_TIMEOUT) == {61_001}, bot.stderr
        code, _ = stop(bot)
        assert code == 0, bot.stderr
    finally:
        bot.kill()
    assert len(skipped_ids(bot.stderr)) == 2 and "Traceback" not in bot.stderr, bot.stderr
    assert stub.pending_updates() == []

    # Restart: nothing left over is fetched again, and new questions are answered.
    mark = stub.mark()
    second = start_bot(stub, tmp_path, knowledge_dir)
    try:
        stub.wait_for("getUpdates", timeout=START_TIMEOUT, since=mark)
        stub.push_updates(poll_without_revoting(61_101), question(61_002))
        assert answered(stub, {61_002}) == {61_002}, second.stderr
        code, _ = stop(second)
        assert code == 0, second.stderr
    finally:
        second.kill()
    assert len(skipped_ids(second.stderr)) == 1 and "Traceback" not in second.stderr


# --- webhook mode ------------------------------------------------------------------------

SECRET = "s3cret"


def post(port: int, body: bytes, *, secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram", data=body, headers=headers, method="POST"
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=REPLY_TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_until_listening(port: int, bot: BotProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert bot.proc.poll() is None, bot.stderr
        try:
            # Any HTTP answer means the server is up (a GET is refused, and that is fine).
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}/", timeout=1
            )
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"webhook server never listened on {port}\n{bot.stderr}")


def test_webhook_answers_a_body_it_cannot_read_with_200_and_one_line(
    stub: BotApiStub, tmp_path: Path, knowledge_dir: Path
) -> None:
    port = free_port()
    bot = start_bot(
        stub,
        tmp_path,
        knowledge_dir,
        WEBHOOK_URL="https://example.invalid/hook",
        WEBHOOK_SECRET=SECRET,
        PORT=str(port),
    )
    bad = [
        json.dumps(poll_without_revoting(62_100)).encode(),
        json.dumps(message_is_a_string()).encode(),
        b'{"update_id": 5, "message": {"text": ',  # cut off
        b"\xff\xfe not even text",
        b"[1, 2, 3]",
        b"",
    ]
    try:
        stub.wait_for("setWebhook", timeout=START_TIMEOUT)
        wait_until_listening(port, bot)
        statuses = [post(port, body) for body in bad]
        print(f"\nwebhook, unreadable bodies: HTTP {statuses}")
        assert statuses == [200] * len(bad), bot.stderr
        # Good updates around them are answered.
        assert post(port, json.dumps(question(62_001)).encode()) == 200
        assert answered(stub, {62_001}) == {62_001}, bot.stderr
        # The secret is still checked first.
        assert post(port, json.dumps(question(62_002)).encode(), secret="salah") == 403
        assert post(port, json.dumps(question(62_003)).encode(), secret=None) == 403
        time.sleep(0.5)
        assert answered(stub, {62_002, 62_003}, timeout=0) == set()
        code, _ = stop(bot)
        assert code == 0, bot.stderr
    finally:
        bot.kill()
    log = bot.stderr
    unreadable = [line for line in log.splitlines() if "webhook" in line and "WARNING" in line]
    assert len(unreadable) == len(bad), log
    assert "Traceback" not in log and "hello" not in log, log
