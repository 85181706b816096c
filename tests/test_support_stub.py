"""Proves the Bot API test doubles in tests/support work with real python-telegram-bot.

Nothing here reaches api.telegram.org: every Bot/Application gets the stub's base_url or the
in-memory RecordingRequest.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from tests.support import (
    TEST_TOKEN,
    BotApiStub,
    RecordingRequest,
    StubTimeout,
    UploadedFile,
    build_application,
    make_callback_update,
    make_command_update,
    make_document_update,
    make_edited_message_update,
    make_inline_update,
    make_location_update,
    make_my_chat_member_update,
    make_photo_update,
    make_sticker_update,
    make_text_update,
    make_voice_update,
    process,
)

# Fixtures live in tests/support/fixtures.py (a conftest may re-export them later).
pytest_plugins = ["tests.support.fixtures"]

# PTB itself warns about int retry_after whenever a RetryAfter is built (v22.2+); not our concern.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)

Ctx = CallbackContext[Any, Any, Any, Any]
App = Application[Any, Any, Any, Any, Any, Any]


def _post(url: str, body: dict[str, Any] | None = None, timeout: float = 5) -> tuple[int, Any]:
    """A raw JSON POST with urllib (what a non-PTB client would do)."""
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# --------------------------------------------------------------------------------------------
# BotApiStub with a real telegram.Bot
# --------------------------------------------------------------------------------------------


async def test_real_bot_talks_to_stub(botapi_stub: BotApiStub) -> None:
    stub = botapi_stub
    async with Bot(TEST_TOKEN, base_url=stub.base_url, base_file_url=stub.base_file_url) as bot:
        assert bot.username == "TanyaBalikpapanBot"  # initialize() called getMe
        assert bot.supports_inline_queries and bot.can_join_groups

        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("UHC", callback_data="t:uhc")]])
        first = await bot.send_message(111, "Halo warga!", reply_markup=keyboard)
        second = await bot.send_message(-1001000000001, "123")  # numeric text stays text
        assert first.chat.id == 111 and first.text == "Halo warga!"
        assert first.reply_markup == keyboard
        assert second.message_id > first.message_id and second.chat.type == "supergroup"

        call = stub.last("sendMessage")
        assert call.params == {"chat_id": -1001000000001, "text": "123"}
        assert call.token == TEST_TOKEN
        assert stub.calls("sendMessage")[0]["reply_markup"] == keyboard.to_dict()

        # multipart upload: binary content survives byte-for-byte
        payload = b"kolom,nilai\r\nuhc,98.76\r\n\x00\xff"
        doc = await bot.send_document(111, payload, filename="data.csv", caption="Data")
        assert doc.document is not None and doc.document.file_name == "data.csv"
        upload = stub.last("sendDocument")["document"]
        assert isinstance(upload, UploadedFile)
        assert (upload.filename, upload.content) == ("data.csv", payload)
        assert stub.last("sendDocument")["caption"] == "Data"

        photo = await bot.send_photo(111, b"\x89PNG fake", caption="Grafik")
        assert len(photo.photo) == 3 and photo.caption == "Grafik"

        # simple True-returning methods and stateful commands
        await bot.send_chat_action(111, "typing")
        assert stub.last("sendChatAction")["action"] == "typing"
        await bot.set_my_commands([("start", "Mulai"), ("topik", "Daftar topik")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "topik"]
        assert await bot.do_api_request("someFutureMethod", {"x": 1}) is True
        assert (await bot.get_chat(111)).type == "private"

        # getFile + download through base_file_url
        stub.files["files/abc"] = b"isi file"
        assert await (await bot.get_file("abc")).download_as_bytearray() == b"isi file"

        edited = await bot.edit_message_text("Diubah", chat_id=111, message_id=first.message_id)
        assert isinstance(edited, type(first)) and edited.message_id == first.message_id

    assert stub.texts(111) == ["Halo warga!", "Diubah"]


async def test_stub_wrong_token_and_injected_errors(botapi_stub: BotApiStub) -> None:
    stub = botapi_stub
    with pytest.raises(InvalidToken):
        await Bot("999:WRONG", base_url=stub.base_url).get_me()
    assert stub.last("getMe").status == 401 and stub.last("getMe").token == "999:WRONG"

    bot = Bot(TEST_TOKEN, base_url=stub.base_url)
    stub.fail_next("sendMessage", status=403)
    stub.fail_next("sendMessage", retry_after=3)
    stub.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
    stub.fail_next("sendMessage", disconnect=True)
    async with bot:
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(111, "a")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(111, "b")
        assert info.value.retry_after == 3
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(111, "c")
        with pytest.raises(NetworkError):
            await bot.send_message(111, "d")
        assert (await bot.send_message(111, "e")).text == "e"  # queue drained
    assert [c.status for c in stub.calls("sendMessage")] == [403, 429, 400, 0, 200]


def test_stub_raw_json_and_get_updates_semantics(botapi_stub: BotApiStub) -> None:
    stub = botapi_stub
    status, body = _post(stub.api_url("sendMessage"), {"chat_id": 5, "text": "json body"})
    assert status == 200 and body["result"]["text"] == "json body"
    assert _post(f"{stub.base_url}nope/getMe")[1] == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }
    assert _post(stub.api_url("brandNewMethod")) == (200, {"ok": True, "result": True})

    pushed = stub.push_updates(*(make_text_update(f"m{i}") for i in range(3)))
    ids = [u["update_id"] for u in pushed]
    got = _post(stub.api_url("getUpdates"), {"limit": 2})[1]["result"]
    assert [u["update_id"] for u in got] == ids[:2]
    # offset confirms (drops) everything below it
    got = _post(stub.api_url("getUpdates"), {"offset": ids[2]})[1]["result"]
    assert [u["message"]["text"] for u in got] == ["m2"]
    assert [u["update_id"] for u in stub.pending_updates()] == [ids[2]]
    assert _post(stub.api_url("getUpdates"), {"offset": ids[2] + 1, "timeout": 0})[1] == {
        "ok": True,
        "result": [],
    }

    # long poll returns as soon as an update is pushed ...
    threading.Timer(0.2, stub.push_update, [make_text_update("late")]).start()
    started = time.monotonic()
    got = _post(stub.api_url("getUpdates"), {"offset": ids[2] + 1, "timeout": 20})[1]["result"]
    assert [u["message"]["text"] for u in got] == ["late"]
    assert time.monotonic() - started < 2
    # ... and times out with [] otherwise
    started = time.monotonic()
    assert _post(stub.api_url("getUpdates"), {"offset": -1, "timeout": 0.3})[1]["result"]
    assert (
        _post(stub.api_url("getUpdates"), {"offset": got[0]["update_id"] + 1, "timeout": 0.3})[1][
            "result"
        ]
        == []
    )
    assert 0.25 < time.monotonic() - started < 2

    with pytest.raises(StubTimeout, match="requests seen by stub"):
        stub.wait_for("sendPhoto", timeout=0.1)


def test_stub_close_releases_pending_long_poll() -> None:
    results: list[Any] = []
    with BotApiStub() as stub:
        url = stub.api_url("getUpdates")
        poller = threading.Thread(target=lambda: results.append(_post(url, {"timeout": 30})))
        poller.start()
        stub.wait_for("getUpdates", timeout=2)
        started = time.monotonic()
    poller.join(timeout=3)
    assert not poller.is_alive() and time.monotonic() - started < 2
    assert results == [(200, {"ok": True, "result": []})]


async def test_application_polls_stub_and_echoes(botapi_stub: BotApiStub) -> None:
    stub = botapi_stub

    async def echo(update: Update, context: Ctx) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(f"echo: {update.message.text}")

    app = (
        ApplicationBuilder()
        .token(TEST_TOKEN)
        .base_url(stub.base_url)
        .base_file_url(stub.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))

    # What run_polling() does, minus signal handling and the blocking loop.
    assert app.updater is not None
    await app.initialize()
    await app.updater.start_polling(poll_interval=0, timeout=10, drop_pending_updates=True)
    await app.start()
    try:
        await stub.wait_for_async("getUpdates")
        update = stub.push_update(make_text_update("halo bot", user_id=42))
        reply = await stub.wait_for_async("sendMessage", lambda c: c["chat_id"] == 42, timeout=5)
        assert reply["text"] == "echo: halo bot"
    finally:
        started = time.monotonic()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert time.monotonic() - started < 2, "stopping must not wait for the long poll"
    # the final getUpdates(offset=...) during stop confirmed the update
    assert stub.last("getUpdates")["offset"] == update["update_id"] + 1
    assert stub.pending_updates() == []
    assert stub.last("deleteWebhook")["drop_pending_updates"] is True


def test_stub_serves_a_separate_bot_process(botapi_stub: BotApiStub) -> None:
    stub = botapi_stub
    # A stand-in for `python -m bot run`: reads TELEGRAM_BASE_URL like the real bot will.
    script = textwrap.dedent(
        """
        import asyncio, os
        from telegram import Bot

        async def main():
            token = os.environ["TELEGRAM_BOT_TOKEN"]
            async with Bot(token, base_url=os.environ["TELEGRAM_BASE_URL"]) as bot:
                updates = await bot.get_updates(timeout=5)
                for u in updates:
                    await bot.send_message(u.effective_chat.id, "echo: " + u.message.text)
                await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)

        asyncio.run(main())
        """
    )
    stub.push_update(make_text_update("dari proses lain", user_id=7))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**_clean_env(), **stub.env()},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 0, proc.stderr
    assert stub.wait_for("sendMessage", timeout=1)["text"] == "echo: dari proses lain"
    assert stub.pending_updates() == []


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}


# --------------------------------------------------------------------------------------------
# RecordingRequest (in-memory) with process_update
# --------------------------------------------------------------------------------------------


async def test_recording_handlers_roundtrip(
    recording_app: App,
    recording_request: RecordingRequest,
) -> None:
    app, req = recording_app, recording_request
    assert req.methods() == ["getMe"] and app.bot.username == "TanyaBalikpapanBot"

    async def start(update: Update, context: Ctx) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Kesehatan", callback_data="t:k")]])
        await update.effective_message.reply_text("Halo! Pilih topik:", reply_markup=keyboard)

    async def on_button(update: Update, context: Ctx) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"Topik: {query.data}")

    async def on_inline(update: Update, context: Ctx) -> None:
        assert update.inline_query is not None
        article = InlineQueryResultArticle(
            "1", "UHC 98,76%", InputTextMessageContent("Cakupan UHC 98,76 persen")
        )
        await update.inline_query.answer([article], cache_time=0)

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(InlineQueryHandler(on_inline))
    req.clear()

    await process(app, make_command_update("start", user_id=9))
    sent = req.last("sendMessage")
    assert sent.params["chat_id"] == 9 and sent["text"] == "Halo! Pilih topik:"
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "t:k"

    await process(app, make_callback_update("t:k", user_id=9, message_id=77))
    assert req.last("editMessageText").params["message_id"] == 77
    assert req.methods() == ["sendMessage", "answerCallbackQuery", "editMessageText"]
    assert req.texts(9) == ["Halo! Pilih topik:", "Topik: t:k"]

    await process(app, make_inline_update("uhc"))
    results = req.last("answerInlineQuery")["results"]
    assert results[0]["input_message_content"]["message_text"] == "Cakupan UHC 98,76 persen"

    # uploads are recorded as UploadedFile
    await app.bot.send_document(9, b"a,b\n1,2\n", filename="data.csv")
    upload = req.last("sendDocument")["document"]
    assert upload == UploadedFile("data.csv", b"a,b\n1,2\n", "text/csv")


async def test_recording_429_is_retried_by_rate_limiter() -> None:
    req = RecordingRequest()
    app = build_application(req, rate_limiter=AIORateLimiter(max_retries=2))

    async def answer(update: Update, context: Ctx) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("jawaban")

    app.add_handler(MessageHandler(filters.TEXT, answer))
    async with app:  # initialize()/shutdown()
        req.fail_next("sendMessage", status=429, retry_after=1)
        await process(app, make_text_update("brp penduduk bpn"))
    statuses = [(c.ok, c.status) for c in req.calls("sendMessage")]
    assert statuses == [(False, 429), (True, 200)]


async def test_recording_errors_surface_as_ptb_exceptions(
    recording_app: App,
    recording_request: RecordingRequest,
) -> None:
    app, req = recording_app, recording_request
    errors: list[BaseException | None] = []

    async def answer(update: Update, context: Ctx) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("jawaban")

    async def on_error(update: object, context: Ctx) -> None:
        errors.append(context.error)

    app.add_handler(MessageHandler(filters.TEXT, answer))
    app.add_error_handler(on_error)

    req.fail_next("sendMessage", status=403)
    await process(app, make_text_update("halo"))
    assert isinstance(errors[0], Forbidden)
    assert errors[0].message == "Forbidden: bot was blocked by the user"

    req.fail_next("sendMessage", exc=TimedOut())
    req.fail_next("sendMessage", exc=NetworkError("koneksi putus"))
    req.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
    req.fail_next("sendMessage", migrate_to_chat_id=-1009)
    for expected in (TimedOut, NetworkError, BadRequest, ChatMigrated):
        with pytest.raises(expected):
            await app.bot.send_message(1, "x")
    assert (await app.bot.send_message(1, "ok")).text == "ok"


async def test_update_builders_deserialize_like_telegram(recording_app: App) -> None:
    bot = recording_app.bot

    def de(data: dict[str, Any]) -> Update:
        return Update.de_json(data, bot)

    cmd = de(make_text_update("/topik@TanyaBalikpapanBot kesehatan", chat_type="supergroup"))
    assert filters.COMMAND.check_update(cmd)
    assert cmd.effective_chat is not None and cmd.effective_chat.type == "supergroup"
    assert cmd.message is not None and cmd.message.parse_entities() == {
        cmd.message.entities[0]: "/topik@TanyaBalikpapanBot"
    }
    plain = de(make_text_update("brp jumlah puskesmas?", reply_to_bot=True))
    assert not filters.COMMAND.check_update(plain)
    assert plain.message is not None and plain.message.reply_to_message is not None
    assert plain.message.reply_to_message.from_user is not None
    assert plain.message.reply_to_message.from_user.id == bot.id

    assert de(make_edited_message_update("ralat")).edited_message is not None
    sticker = de(make_sticker_update("🙏")).message
    assert sticker is not None and sticker.sticker is not None and sticker.sticker.emoji == "🙏"
    photo = de(make_photo_update("lihat ini")).message
    assert photo is not None and len(photo.photo) == 3 and photo.caption == "lihat ini"
    document = de(make_document_update()).message
    assert document is not None and document.document is not None
    assert filters.VOICE.check_update(de(make_voice_update()))
    assert filters.LOCATION.check_update(de(make_location_update()))
    inline = de(make_inline_update("uhc", offset="10")).inline_query
    assert inline is not None and (inline.query, inline.offset) == ("uhc", "10")
    callback = de(make_callback_update("t:k", chat_type="group")).callback_query
    assert callback is not None and callback.message is not None and callback.data == "t:k"
    blocked = de(make_my_chat_member_update("kicked")).my_chat_member
    assert blocked is not None and blocked.new_chat_member.status == "kicked"


async def test_recording_wait_for_background_replies() -> None:
    req = RecordingRequest()
    app = build_application(req, configure=lambda b: b.concurrent_updates(True))

    async def slow(update: Update, context: Ctx) -> None:
        await asyncio.sleep(0.05)
        assert update.effective_message is not None
        await update.effective_message.reply_text("selesai")

    app.add_handler(MessageHandler(filters.TEXT, slow, block=False))
    async with app:
        await app.start()  # non-blocking handlers run as tasks of a *running* application
        await process(app, make_text_update("lama"))
        assert (await req.wait_for("sendMessage", timeout=2))["text"] == "selesai"
        await app.stop()
