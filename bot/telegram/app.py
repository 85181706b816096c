"""Composition root: builds the Application and wires handlers in an explicit order."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
from datetime import time as daytime
from pathlib import Path

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.answers import Renderer
from bot.config import Settings, restrict_access
from bot.locale import Locale
from bot.matcher import Engine
from bot.storage import Storage, StorageUnavailable
from bot.telegram import inline, ratelimit, residents, staff
from bot.telegram.callbacks import STAFF_PATTERN
from bot.telegram.commands import Scope, in_scope, menu
from bot.telegram.delivery import TelegramBot
from bot.telegram.ratelimit import RetryingRateLimiter, is_transient
from bot.telegram.services import FloodGuard, Services, services
from bot.telegram.updates import GuardedBot, GuardedUpdater

log = logging.getLogger(__name__)

# The command menus' names, from the one command table.
RESIDENT_COMMANDS = tuple(c.menu_name for c in in_scope(Scope.RESIDENT))
STAFF_COMMANDS = tuple(c.menu_name for c in in_scope(Scope.STAFF))
PRIVATE = filters.ChatType.PRIVATE
GROUPS = filters.ChatType.GROUPS
MESSAGES = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
WEBHOOK_PATH = "telegram"


def build_application(
    settings: Settings,
    engine: Engine,
    locale: Locale,
    storage: Storage | None = None,
    *,
    request: BaseRequest | None = None,
    rate_limit: bool = True,
) -> Application:
    """The bot, ready to run. ``request`` lets tests plug in a recording transport;
    ``storage`` is opened in ``post_init`` when not given."""
    bot = TelegramBot(
        token=settings.token or "0:offline",
        base_url=settings.base_url,
        defaults=Defaults(
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            allow_sending_without_reply=True,
        ),
        # Waits out 429s and retries timeouts / network errors a few times.
        rate_limiter=RetryingRateLimiter() if rate_limit else None,
        # Timeouts that fit the Bot API's real latency: a slow answer is waited for, not
        # taken as a failure and sent again (see ratelimit.may_have_arrived).
        request=request
        or HTTPXRequest(
            connection_pool_size=256,
            read_timeout=ratelimit.READ_TIMEOUT,
            write_timeout=ratelimit.WRITE_TIMEOUT,
            connect_timeout=ratelimit.CONNECT_TIMEOUT,
        ),
        get_updates_request=request or HTTPXRequest(connection_pool_size=1),
    )
    builder = (
        ApplicationBuilder()
        # Reads every update on its own: one the library cannot parse is logged and skipped.
        .updater(GuardedUpdater(bot, asyncio.Queue()))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .concurrent_updates(True)
    )
    app = builder.build()
    app.bot_data["services"] = Services(
        settings=settings,
        engine=engine,
        locale=locale,
        renderer=Renderer(locale),
        storage=storage,  # type: ignore[arg-type]  # set in _post_init when None
        flood=FloodGuard(settings.flood_limit),
        key_secret=hashlib.sha256(b"question-key\0" + (settings.token or "").encode()).digest(),
    )
    _add_handlers(app)
    return app


class DatalessButton(CallbackQueryHandler):
    """Takes only button presses whose callback data is missing or empty."""

    def check_update(self, update: object) -> bool:
        return (
            isinstance(update, Update)
            and update.callback_query is not None
            and not update.callback_query.data
        )


def _add_handlers(app: Application) -> None:
    # -1: flood control sees every update first and may stop it.
    app.add_handler(TypeHandler(Update, residents.flood_guard), group=-1)

    # 0: a button press without data (missing, empty, or a game button) is a stale menu
    # for everyone; before the staff handlers, whose pattern PTB skips when data is empty.
    app.add_handler(DatalessButton(residents.on_callback))
    # Commands, staff first so their names can't be shadowed; staff buttons with them.
    for command in in_scope(Scope.STAFF):
        app.add_handler(CommandHandler(list(command.names), staff.staff_only(command.handler)))
    app.add_handler(
        CallbackQueryHandler(staff.staff_only(staff.on_staff_button), pattern=STAFF_PATTERN)
    )
    for command in in_scope(Scope.RESIDENT):
        app.add_handler(CommandHandler(list(command.names), command.handler, filters=MESSAGES))
    app.add_handler(MessageHandler(filters.COMMAND & PRIVATE & MESSAGES, residents.unknown_command))

    # Buttons and inline mode.
    app.add_handler(CallbackQueryHandler(residents.on_callback))
    app.add_handler(InlineQueryHandler(inline.on_inline_query))

    # The bot's own membership: a resident blocking it, a group removing it.
    app.add_handler(
        ChatMemberHandler(residents.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
    )

    # Questions: any text in private chats; in groups only replies to the bot.
    app.add_handler(
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & PRIVATE & MESSAGES, residents.on_private_text
        )
    )
    app.add_handler(
        MessageHandler(
            filters.TEXT & ~filters.COMMAND & GROUPS & filters.REPLY & MESSAGES,
            residents.on_group_reply,
        )
    )
    # Everything else a resident can send in private: ask for text, kindly.
    app.add_handler(
        MessageHandler(
            PRIVATE & filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL,
            residents.on_non_text,
        )
    )
    app.add_error_handler(on_error)


class DatabaseUnusable(Exception):
    """The question log cannot be opened for writing at start: the bot does not run."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


class TokenRefusalFilter(logging.Filter):
    """PTB logs a token Telegram rejects with two chained tracebacks. At start
    :func:`run` reports it in one line, so the record is dropped; once the bot is
    running it is kept, without the traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.started = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], InvalidToken):
            if not self.started or "retry loop" in record.getMessage().lower():
                return False  # run() says it in one line, at start or when polling stops
            record.exc_info, record.exc_text = None, None
        return True


TOKEN_REFUSAL = TokenRefusalFilter()


def _unwritable(path: Path) -> str | None:
    """Why the database cannot be written, or None (a lock held by another process is
    not a reason: the buffered writer waits it out)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0.1)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.rollback()
    except sqlite3.Error as exc:
        message = str(exc)
        if "readonly" in message or "unable to open" in message:
            return message
    finally:
        db.close()
    return None


async def _post_init(app: Application) -> None:
    svc: Services = app.bot_data["services"]
    if svc.storage is None:
        path = svc.settings.db_path
        try:
            svc.storage = await Storage.open(path)
        except (StorageUnavailable, OSError) as exc:
            cause = exc.__cause__ if isinstance(exc, StorageUnavailable) else exc
            reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
            raise DatabaseUnusable(path, reason) from None
        # SQLite opens a file it may not write read-only without a word, and a migrated
        # database needs no write to open: ask for the write lock once to find out.
        reason = await asyncio.to_thread(_unwritable, path)
        if reason is not None:
            await svc.storage.close()
            svc.storage = None  # type: ignore[assignment]
            raise DatabaseUnusable(path, reason)
    TOKEN_REFUSAL.started = True
    if isinstance(app.bot, GuardedBot):
        app.bot.started()
    me = await app.bot.get_me()
    svc.renderer.bot_username = me.username
    await _set_commands(app, svc)
    _schedule_jobs(app, svc)


async def _post_shutdown(app: Application) -> None:
    svc: Services = app.bot_data["services"]
    if svc.storage is not None:
        await svc.storage.close()


async def _set_commands(app: Application, svc: Services) -> None:
    """Residents see their commands everywhere; staff commands only in staff chats.
    The menu is a convenience: failing to set it never stops the bot from starting."""

    def commands(scope: Scope) -> list[BotCommand]:
        return [BotCommand(c.menu_name, svc.t(c.description)) for c in menu(scope)]

    staff_chats = {*svc.settings.staff_ids}
    if svc.settings.staff_chat_id is not None:
        staff_chats.add(svc.settings.staff_chat_id)
    menus: list[tuple[BotCommandScope, Scope]] = [(BotCommandScopeDefault(), Scope.RESIDENT)]
    menus += [(BotCommandScopeChat(chat_id), Scope.STAFF) for chat_id in sorted(staff_chats)]
    for scope, who in menus:
        try:
            await app.bot.set_my_commands(commands(who), scope=scope)
        except TelegramError as exc:  # e.g. staff who never opened the bot; a network blip
            log.warning("could not set the command menu (%s): %s", scope.type, exc)


def _schedule_jobs(app: Application, svc: Services) -> None:
    jobs = app.job_queue
    if jobs is None:
        return
    jobs.run_daily(staff.purge_job, time=daytime(hour=19), name="retention")  # 03:00 WITA
    jobs.run_daily(staff.digest_job, time=daytime(hour=0), name="digest")  # 08:00 WITA
    jobs.run_repeating(staff.refresh_popular_job, interval=900, first=5, name="popular")
    jobs.run_repeating(lambda _ctx: _forget(svc), interval=300, first=300, name="flood")


async def _forget(svc: Services) -> None:
    svc.flood.forget_idle()


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One bad update never stops the bot: log it and, where possible, apologise."""
    error = context.error
    chat = update.effective_chat if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        log.info("chat %s blocked the bot; marking it inactive", chat.id if chat else "?")
        if chat is not None:
            try:
                await services(context).storage.mark_chat_inactive(chat.id)
            except Exception as exc:  # storage trouble must not escape the error handler
                log.warning("could not mark chat %s inactive: %s", chat.id, exc)
        return
    # BadRequest subclasses NetworkError, but it means our request was wrong: a bug.
    # Both already went through RetryingRateLimiter's retries.
    if is_transient(error) or isinstance(error, RetryAfter):
        log.warning("network problem while handling an update: %s", error)
        return
    if isinstance(error, BadRequest) and "query is too old" in str(error).lower():
        # A button press or inline query answered after Telegram's ~10 s: under load, or
        # after a long flood wait. Nothing to fix and nobody to tell.
        log.warning("answered too late: %s", error)
        return
    if isinstance(error, StorageUnavailable):  # a staff read or write; resident logs are buffered
        log.warning("database unavailable while handling an update: %s", error)
        key = "error.storage"
    else:
        log.error("update failed", exc_info=error)
        key = "error.generic"
    if isinstance(update, Update) and update.effective_message and chat and chat.type == "private":
        with contextlib.suppress(TelegramError):
            await update.effective_message.reply_text(services(context).t(key))


def run(settings: Settings, engine: Engine, locale: Locale) -> None:
    """Long polling, or a webhook server when WEBHOOK_URL is set. PTB stops cleanly
    on SIGINT/SIGTERM; post_shutdown then flushes the question log."""
    restrict_access(settings)  # data folder 0700, database and everything new 0600
    app = build_application(settings, engine, locale)
    if isinstance(app.bot, GuardedBot):
        app.bot.stop_when_refused(app.stop_running)
    logging.getLogger("telegram.ext").addFilter(TOKEN_REFUSAL)
    try:
        if settings.webhook_url:
            app.run_webhook(
                listen="0.0.0.0",
                port=settings.port,
                url_path=WEBHOOK_PATH,
                webhook_url=settings.webhook_url.rstrip("/") + "/" + WEBHOOK_PATH,
                secret_token=settings.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
        if isinstance(app.bot, GuardedBot) and app.bot.token_refused:
            log.critical(
                "Telegram rejected the bot token while the bot was running (revoked?); stopped. %s",
                locale.t("startup.token_refused"),
            )
            raise SystemExit(1)
    # Both go through logging (which masks secrets), never a bare traceback on stderr:
    # PTB's InvalidToken message, for one, quotes the token.
    except InvalidToken:
        # English first, as every operator log line; then what to do, from the locale.
        log.critical("Telegram rejected the bot token. %s", locale.t("startup.token_refused"))
        raise SystemExit(1) from None
    except DatabaseUnusable as exc:
        log.critical(locale.t("startup.db_unusable", path=str(exc.path), reason=exc.reason))
        raise SystemExit(2) from None
    except Exception:
        log.critical("the bot stopped on an unexpected error", exc_info=True)
        raise SystemExit(1) from None
