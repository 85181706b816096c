"""Huge bodies thrown at the webhook cost the bot no memory.

Twenty clients at once POST 95 MB bodies: without the secret, and with it. The secret
and ``Content-Length`` are checked from the headers before a byte of the body is read,
so each is refused at once (403 / 413) and the bot's memory stays where it was; a real
update still gets its answer afterwards. (Before, PTB's server read every body whole
first: RSS 69 -> 2,350 MB.)
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from pathlib import Path

from tests.support import BotApiStub, make_text_update
from tests.support.bot_process import START_TIMEOUT, free_port, start_bot
from tests.support.harness import UHC_QUESTION
from tests.test_e2e_bot import REPLY_TIMEOUT, UHC_TITLE, post_update, wait_until_listening

CLIENTS = 20
CLAIMED = 95 * 1024 * 1024  # the Content-Length each client announces
SENT = 8 * 1024 * 1024  # how much of it each client really pushes before giving up
SECRET = "s3cret"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def hostile_post(port: int, secret: str | None, statuses: list[str]) -> None:
    head = (
        "POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {CLAIMED}\r\n"
        + (f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\n" if secret else "")
        + "\r\n"
    )
    chunk = b"x" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        sent = 0
        try:
            while sent < SENT:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the bot closed the connection: it was refused
        try:
            statuses.append(sock.recv(64).decode("latin-1").split("\r\n")[0])
        except OSError:
            statuses.append("closed")


def test_twenty_95_mb_bodies_are_refused_from_their_headers(
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
    try:
        stub.wait_for("setWebhook", timeout=START_TIMEOUT)
        wait_until_listening(port, bot)
        before = rss_mb(bot.proc.pid)
        statuses: list[str] = []
        clients = [
            threading.Thread(target=hostile_post, args=(port, secret, statuses))
            for secret in [None] * (CLIENTS // 2) + [SECRET] * (CLIENTS // 2)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(30)
        after = rss_mb(bot.proc.pid)

        mark = stub.mark()
        assert post_update(port, make_text_update(UHC_QUESTION, user_id=601), SECRET) == 200
        reply = stub.wait_for(
            "sendMessage", lambda c: c["chat_id"] == 601, timeout=REPLY_TIMEOUT, since=mark
        )
        assert reply["text"].startswith(UHC_TITLE)
        code, _ = bot.stop()
    finally:
        bot.kill()
    print(f"\n{CLIENTS} x 95 MB POSTs: RSS {before:.0f} -> {after:.0f} MB; {Counter(statuses)}")
    assert statuses.count("HTTP/1.1 403 Forbidden") == CLIENTS // 2, statuses
    assert statuses.count("HTTP/1.1 413 Content Too Large") == CLIENTS // 2, statuses
    assert after - before < 50, (before, after)  # nothing of the bodies was kept
    assert code == 0, bot.stderr
    assert "Traceback" not in bot.stderr, bot.stderr
