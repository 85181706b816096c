"""The bot token and webhook secret never appear in logs, errors or exports.

One full in-process run of the real bot (real HTTP client, long polling against the
stand-in Bot API, production rate limiter, storage opened in post_init) with every
logger at DEBUG — httpx included, whose request lines carry the token in the URL — and
with faults injected: 5xx and dropped connections (retried), a blocked user, a bad
request, and a handler crash whose exception message quotes the token. All log output
goes through the real ``setup_logging``; the token must appear nowhere.
"""

from __future__ import annotations

import csv
import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot import config
from bot.config import RedactSecrets, Settings, setup_logging
from bot.knowledge import Knowledge
from bot.locale import Locale
from bot.matcher import Decision, Engine
from bot.paths import KNOWLEDGE_DIR
from bot.storage import EXPORT_COLUMNS
from bot.telegram import ratelimit
from bot.telegram.app import build_application
from tests.support import BotApiStub, make_command_update, make_text_update
from tests.support.bot_process import ROOT, START_TIMEOUT, clean_environ

TOKEN = "7012345678:AAH3kSecretPart_of-the-token0123456789"
SECRET_PART = TOKEN.split(":", 1)[1]
WEBHOOK_SECRET = "hook-Secret-9f8e7d6c"
STAFF_ID = 999
UHC_QUESTION = "cakupan uhc balikpapan berapa persen"
CRASH_QUESTION = "pertanyaan yang membuat mesin meledak"
REPLY_TIMEOUT = 20.0


@pytest.fixture
def logging_sandbox() -> Iterator[io.StringIO]:
    """Everything logged, as the production handler would write it; global logging
    state (levels, handlers, formatters, the record factory) restored afterwards."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    saved_formatters = [(h, h.formatter) for h in root.handlers]
    noisy = [logging.getLogger(n) for n in ("httpx", "httpcore", "telegram", "aiosqlite")]
    saved_noisy = [(lg, lg.level) for lg in noisy]
    saved_factory = logging.getLogRecordFactory()
    saved_redactor = config._redactor

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers
        for h, formatter in saved_formatters:
            h.setFormatter(formatter)
        for lg, level in saved_noisy:
            lg.setLevel(level)
        logging.setLogRecordFactory(saved_factory)
        config._redactor = saved_redactor


async def test_token_never_reaches_any_log_in_a_full_run_with_faults(
    logging_sandbox: io.StringIO,
    tmp_path: Path,
    knowledge: Knowledge,
    locale: Locale,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(ratelimit, "NETWORK_BACKOFF", 0.01)
    with BotApiStub(token=TOKEN) as stub:
        settings = Settings(
            token=TOKEN,
            base_url=stub.base_url,
            db_path=tmp_path / "bot.db",
            knowledge_dir=KNOWLEDGE_DIR,
            staff_ids=frozenset({STAFF_ID}),
            log_level="DEBUG",
            webhook_secret=WEBHOOK_SECRET,
        )
        setup_logging("DEBUG", settings)
        for name in ("httpx", "httpcore", "telegram", "aiosqlite"):
            logging.getLogger(name).setLevel(logging.DEBUG)  # louder than production
        caplog.set_level(logging.DEBUG)

        engine = Engine(knowledge)
        decide = engine.decide

        def exploding(question: str) -> Decision:
            if question == CRASH_QUESTION:
                raise RuntimeError(f"engine exploded; bot was {TOKEN}")
            return decide(question)

        monkeypatch.setattr(engine, "decide", exploding)
        app = build_application(settings, engine, locale)  # real HTTP client, real limiter
        await app.initialize()
        await app.post_init(app)
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, poll_interval=0.0)
        await app.start()
        try:
            logging.getLogger("tests.security").debug("the bot object: %r", app.bot)

            async def exchange(update: dict[str, Any], chat_id: int) -> None:
                mark = stub.mark()
                stub.push_update(update)
                await stub.wait_for_async(
                    "sendMessage", lambda c: c["chat_id"] == chat_id, REPLY_TIMEOUT, since=mark
                )

            await exchange(make_text_update(UHC_QUESTION, user_id=801), 801)
            stub.fail_next("sendMessage", status=500)  # retried
            await exchange(make_text_update(UHC_QUESTION, user_id=802), 802)
            stub.fail_next("sendMessage", disconnect=True)  # retried
            await exchange(make_text_update("halo", user_id=803), 803)
            stub.fail_next("sendMessage", status=400, description="Bad Request: can't parse")
            await exchange(make_text_update(UHC_QUESTION, user_id=804), 804)  # the apology
            await exchange(make_text_update(CRASH_QUESTION, user_id=805), 805)  # the apology
            mark = stub.mark()
            stub.fail_next("sendMessage", status=403)
            stub.push_update(make_text_update(UHC_QUESTION, user_id=806))
            await stub.wait_for_async("sendMessage", None, REPLY_TIMEOUT, since=mark)
            mark = stub.mark()
            stub.push_update(make_command_update("ekspor", user_id=STAFF_ID))
            export = await stub.wait_for_async("sendDocument", None, REPLY_TIMEOUT, since=mark)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
            await app.post_shutdown(app)

    output = logging_sandbox.getvalue()
    # The run really was noisy and really failed where we said.
    assert "HTTP Request: POST" in output and f"/bot{config.MASK}/sendMessage" in output
    assert "retry 1 of" in output
    assert "Traceback" in output and f"engine exploded; bot was {config.MASK}" in output
    assert "can't parse" in output.lower()
    assert "blocked the bot" in output
    assert f"token={config.MASK}" in output  # PTB's repr of the bot quotes the token
    # ... and the token is nowhere: not whole, not its secret half; nor the webhook secret.
    for secret in (TOKEN, SECRET_PART, WEBHOOK_SECRET):
        assert secret not in output
        for record in caplog.records:  # whatever handler reads the records
            assert secret not in record.getMessage()
            assert secret not in (record.exc_text or "")

    content = export["document"].content.decode("utf-8-sig")
    assert TOKEN not in content and SECRET_PART not in content
    table = list(csv.DictReader(io.StringIO(content)))
    assert tuple(table[0]) == EXPORT_COLUMNS
    assert len(table) == 5  # every question but the one that crashed the engine
    user_ids = {str(u) for u in range(801, 807)}
    for row in table:
        for column, value in row.items():
            if column != "text":  # what residents typed is theirs; ids are never a column
                assert value not in user_ids, (column, value)


def test_redaction_covers_messages_arguments_tracebacks_and_stacks() -> None:
    redact = RedactSecrets((TOKEN, ""))
    try:
        raise ValueError(f"bad url https://api.telegram.org/bot{TOKEN}/getMe")
    except ValueError:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "calling %s with %r",
            ("getMe", {"t": TOKEN}),
            sys.exc_info(),
            sinfo=f"Stack: {TOKEN}",
        )
    assert redact.filter(record) is True
    text = logging.Formatter("%(message)s").format(record)
    assert TOKEN not in text and SECRET_PART not in text
    assert "calling getMe with {'t': '***'}" in text and "bot***/getMe" in text
    assert record.exc_info is not None  # still there for code that inspects it
    broken = logging.LogRecord("x", logging.INFO, __file__, 1, "%d %s", (TOKEN,), None)
    redact.redact(broken)  # a wrong format string must not leak the arguments raw
    assert TOKEN not in logging.Formatter().format(broken)


def test_a_rejected_token_exits_cleanly_without_printing_it(tmp_path: Path) -> None:
    """PTB's InvalidToken message quotes the token; it used to end up on stderr in the
    crash traceback. Now: one clear log line, exit code 1, token masked everywhere."""
    with BotApiStub(token=TOKEN) as stub:
        env = {
            **clean_environ(),
            **stub.env(),
            "TELEGRAM_BOT_TOKEN": "7012345678:AAWrongButSecretPart_42",
            "BOT_DB_PATH": str(tmp_path / "bot.db"),
            "BOT_CACHE_DIR": str(tmp_path / "cache"),
            "LOG_LEVEL": "DEBUG",
            "PYTHONUNBUFFERED": "1",
        }
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "AAWrongButSecretPart_42" not in result.stderr + result.stdout
    assert "Telegram rejected the bot token" in result.stderr


def test_config_errors_never_echo_the_token() -> None:
    from bot.config import ConfigError, load_settings

    with pytest.raises(ConfigError) as caught:
        load_settings({"TELEGRAM_BOT_TOKEN": "not-a-token-SecretPart", "PORT": "x"})
    assert "SecretPart" not in str(caught.value)
    assert "SecretPart" not in repr(caught.value.problems)
    settings = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": WEBHOOK_SECRET})
    assert SECRET_PART not in repr(settings) and WEBHOOK_SECRET not in repr(settings)
