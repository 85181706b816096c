"""Staff tools on Telegram: the unanswered-question review loop, export, stats, reload.

Staff are recognised by Telegram **user id** (``BOT_STAFF_IDS``), checked on every
command and every button press; anyone else gets one short refusal and nothing of
the log. Staff commands work in a private chat with the bot and in the staff group
(``BOT_STAFF_CHAT_ID``) only, so the log is never shown to a residents' group.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.constants import ChatType
from telegram.error import ChatMigrated, Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.reports import csv_bytes, stats_chart_png, stats_lines
from bot.snapshot import open_index
from bot.storage import Group, StorageError
from bot.telegram.callbacks import StaffIgnore, StaffPage, decode, encode
from bot.telegram.keyboards import Paging
from bot.telegram.messages import edit_text, send_long
from bot.telegram.services import Services, services

log = logging.getLogger(__name__)

PAGE_SIZE = 5  # groups per page of /belumterjawab
REPLY_PAUSE = 0.05  # between recipients of a staff answer, on top of the rate limiter
CATCH_UP_SECONDS = 2.0  # at most this long to commit buffered questions before a staff view

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def staff_only(handler: Handler) -> Handler:
    @wraps(handler)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.edited_message is not None:
            return  # editing a sent /jawab must not deliver the answer twice
        user = update.effective_user
        svc = services(context)
        refusal = None
        if not svc.settings.is_staff(user.id if user else None):
            refusal = "staff.only"
        elif not _staff_chat(svc, update.effective_chat):
            # Staff in a residents' group: the log must not be shown to its members.
            refusal = "staff.private_only"
        if refusal is not None:
            if update.callback_query:
                await update.callback_query.answer(svc.t(refusal), show_alert=True)
            elif update.effective_message:
                await update.effective_message.reply_text(svc.t(refusal))
            return
        await caught_up(svc)
        await handler(update, context)

    return guarded


async def caught_up(svc: Services) -> None:
    """Commit what residents asked a moment ago, so staff see it in lists, exports and
    stats. With the database unavailable, go on with what is stored (rows stay buffered)."""
    with contextlib.suppress(StorageError, TimeoutError):
        async with asyncio.timeout(CATCH_UP_SECONDS):
            await svc.storage.flush()


def _staff_chat(svc: Services, chat: Chat | None) -> bool:
    """Where the log may be shown: a private chat with the bot, or the staff group."""
    if chat is None:  # a button on an inline-mode message: nothing is shown there
        return True
    return chat.type == ChatType.PRIVATE or chat.id == svc.settings.staff_chat_id


def _int_arg(
    context: ContextTypes.DEFAULT_TYPE, index: int, default: int | None = None
) -> int | None:
    args = context.args or []
    if len(args) <= index:
        return default
    value = args[index].lstrip("#")
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None


# --- unanswered questions ----------------------------------------------------------------


def _group_line(svc: Services, group: Group) -> str:
    return svc.t(
        "staff.group_line",
        id=group.id,
        count=group.count,
        example=html.escape(group.example[:200]),
        first=svc.renderer.date(group.first_seen.date()),
        last=svc.renderer.date(group.last_seen.date()),
    )


async def _unanswered_page(svc: Services, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    total = await svc.storage.count_open_groups()
    if total == 0:
        return svc.t("staff.none_open"), None
    paging = Paging.of(total, page, PAGE_SIZE)
    # City gaps first, most asked first within each; plainly off-topic ones last, marked.
    about_city = svc.engine.index.about_city
    every = await svc.storage.open_groups(limit=total)
    every.sort(key=lambda g: not about_city(g.normalized))  # stable: keeps the order
    groups = every[paging.offset : paging.offset + PAGE_SIZE]
    lines = [svc.t("staff.open_header", total=total, page=paging.page + 1, pages=paging.pages)]
    lines += [
        _group_line(svc, g)
        if about_city(g.normalized)
        else svc.t("staff.off_topic", line=_group_line(svc, g))
        for g in groups
    ]
    lines.append(svc.t("staff.open_hint"))
    rows = [
        [
            InlineKeyboardButton(
                svc.t("staff.ignore_button", id=g.id), callback_data=encode(StaffIgnore(g.id))
            )
        ]
        for g in groups
    ]
    nav = paging.nav(svc.locale, StaffPage)
    if nav:
        rows.append(nav)
    return "\n\n".join(lines), InlineKeyboardMarkup(rows)


async def unanswered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    text, markup = await _unanswered_page(svc, 0)
    await update.effective_message.reply_text(text, reply_markup=markup)


async def on_staff_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    svc = services(context)
    action = decode(query.data)
    match action:
        case StaffPage(page):
            await query.answer()
            text, markup = await _unanswered_page(svc, page)
            await edit_text(query, text, markup)
        case StaffIgnore(group_id):
            changed = await svc.storage.set_group_status(group_id, "ignored")
            await query.answer(svc.t("staff.ignored" if changed else "staff.no_group", id=group_id))
            text, markup = await _unanswered_page(svc, 0)
            await edit_text(query, text, markup)
        case _:
            await query.answer(svc.t("callback.stale"), show_alert=True)


async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/jawab <id> <teks>``: send a staff answer to everyone who asked in that group."""
    svc = services(context)
    message = update.effective_message
    group_id = _int_arg(context, 0)
    text = (message.text or "").split(maxsplit=2)[2:] if message else []
    if group_id is None or not text or not text[0].strip():
        await message.reply_text(svc.t("staff.reply_usage"))
        return
    group = await svc.storage.get_group(group_id)
    if group is None:
        await message.reply_text(svc.t("staff.no_group", id=group_id))
        return
    answer = text[0].strip()
    body = svc.t(
        "staff.answer_to_resident",
        question=html.escape(group.example[:300]),
        answer=html.escape(answer),
    )
    recipients = await svc.storage.group_recipients(group_id)
    # Close the group before sending: with the database down nothing is sent and staff
    # simply try again, rather than residents getting the answer twice.
    await svc.storage.set_group_status(group_id, "answered", answer_text=answer)
    sent = failed = 0
    for chat_id, message_id in recipients:
        try:
            try:
                await send_long(context.bot, chat_id, body, reply_to_message_id=message_id)
            except ChatMigrated as exc:  # the group became a supergroup since it asked
                await send_long(context.bot, exc.new_chat_id, body)
            sent += 1
        except Forbidden:
            failed += 1
            try:
                await svc.storage.mark_chat_inactive(chat_id)
            except StorageError as exc:  # the other residents still get their answer
                log.warning("could not mark chat %s inactive: %s", chat_id, exc)
        except TelegramError as exc:
            log.warning("staff answer to chat %s failed: %s", chat_id, exc)
            failed += 1
        await asyncio.sleep(REPLY_PAUSE)
    await message.reply_text(svc.t("staff.reply_done", id=group_id, sent=sent, failed=failed))


async def ignore(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    group_id = _int_arg(context, 0)
    if group_id is None:
        await update.effective_message.reply_text(svc.t("staff.ignore_usage"))
        return
    changed = await svc.storage.set_group_status(group_id, "ignored")
    key = "staff.ignored" if changed else "staff.no_group"
    await update.effective_message.reply_text(svc.t(key, id=group_id))


# --- export, stats -------------------------------------------------------------------------


def _days(context: ContextTypes.DEFAULT_TYPE, default: int | None) -> int | None:
    value = _int_arg(context, 0, default)
    return None if value is None else min(max(value, 1), 3650)


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    days = _days(context, None)
    rows = await svc.storage.export_rows(days)
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    await update.effective_message.reply_document(
        InputFile(csv_bytes(rows), filename=f"pertanyaan-{stamp}.csv"),
        caption=svc.t("staff.export_caption", rows=len(rows)),
    )


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    days = _days(context, 7) or 7
    report = await svc.storage.stats(days)
    text = html.escape("\n".join(stats_lines(report, svc.locale, svc.engine.knowledge)))
    await send_long(context.bot, update.effective_chat.id, text)
    if report.total:
        png = await asyncio.to_thread(stats_chart_png, report, svc.locale)
        await update.effective_message.reply_photo(
            InputFile(png, filename="statistik.png"),
            caption=svc.t("stats.chart_caption", days=days),
        )


# --- knowledge reload -----------------------------------------------------------------------


async def reload_knowledge(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    _ok, text = await reload_engine(svc)
    await send_long(context.bot, update.effective_chat.id, text)


async def reload_engine(svc: Services) -> tuple[bool, str]:
    """Validate and swap in the knowledge; on any problem keep serving the old one."""
    index, problems = await asyncio.to_thread(
        open_index, svc.settings.knowledge_dir, svc.settings.cache_dir
    )
    if index is None:
        lines = [svc.t("staff.reload_failed", count=len(problems))]
        lines += [html.escape(svc.renderer.problem(p)) for p in problems[:30]]
        return False, "\n".join(lines)
    svc.engine.swap(index)  # one assignment: built (or read) fully in the thread above
    knowledge = index.knowledge
    return True, svc.t(
        "staff.reload_ok",
        entries=len(knowledge.entries),
        questions=sum(len(e.questions) for e in knowledge.entries),
        fingerprint=knowledge.fingerprint[:8],
    )


# --- jobs --------------------------------------------------------------------------------------


async def purge_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    purged = await svc.storage.purge_personal_ids(svc.settings.retention_days)
    log.info("retention: removed personal ids from %d rows", purged)


async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """New open groups of the last day to the staff chat; nothing new, no message."""
    svc = services(context)
    chat_id = svc.settings.staff_chat_id
    if chat_id is None:
        return
    await caught_up(svc)
    groups = await svc.storage.groups_since(datetime.now(UTC) - timedelta(days=1))
    if not groups:
        return
    lines = [svc.t("staff.digest_header", count=len(groups))]
    lines += [_group_line(svc, g) for g in groups[:20]]
    lines.append(svc.t("staff.open_hint"))
    await send_long(context.bot, chat_id, "\n\n".join(lines))


async def refresh_popular_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    report = await svc.storage.stats(30)
    svc.popular = [entry_id for entry_id, _ in report.top_entries]
