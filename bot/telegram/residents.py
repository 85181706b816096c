"""Handlers for residents: commands, questions, buttons, and anything else they send."""

from __future__ import annotations

import html
import logging

from telegram import Message, MessageOriginUser, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.answers import Format
from bot.matcher import Decision
from bot.reply import build_reply, entry_reply
from bot.storage import StorageError
from bot.telegram import keyboards
from bot.telegram.callbacks import (
    Feedback,
    OpenEntry,
    StaffIgnore,
    StaffPage,
    TopicList,
    TopicPage,
    decode,
)
from bot.telegram.messages import edit_markup, edit_text
from bot.telegram.ratelimit import FloodVerdict
from bot.telegram.services import Services, services

log = logging.getLogger(__name__)


# --- flood control (runs first, in handler group -1) ------------------------------------


async def flood_guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None or not _sent_to_bot(update):
        return
    svc = services(context)
    if svc.settings.is_staff(user.id) or not _addressed_to_bot(update, context.bot.id):
        return
    verdict = svc.flood.check(user.id)
    if verdict is FloodVerdict.OK:
        return
    if verdict is FloodVerdict.WARN:
        if update.callback_query:
            await update.callback_query.answer(svc.t("flood.notice"), show_alert=True)
        elif (
            update.effective_message
            and update.effective_chat
            and update.effective_chat.type == ChatType.PRIVATE
        ):
            await update.effective_message.reply_text(svc.t("flood.notice"))
    raise ApplicationHandlerStop


def _sent_to_bot(update: Update) -> bool:
    """Only what a user sends (messages, edits, button presses) counts. Membership
    changes, reactions, join requests, chosen inline results... never do: a flooding
    user who then blocks the bot must still be recorded as having blocked it."""
    return bool(update.message or update.edited_message or update.callback_query)


def _addressed_to_bot(update: Update, bot_id: int) -> bool:
    """Group chatter the bot merely overhears must not count against anyone's limit."""
    if update.callback_query:
        return True
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or chat.type == ChatType.PRIVATE:
        return True
    if (message.text or "").startswith("/"):
        return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


# --- commands -----------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    knowledge = svc.engine.knowledge
    as_of = svc.renderer.date(knowledge.as_of) if knowledge.as_of else "-"
    await update.effective_message.reply_text(
        svc.t(
            "start.welcome",
            entries=len(knowledge.entries),
            topics=len(knowledge.topics),
            sources=len(knowledge.sources),
            date=as_of,
        ),
        reply_markup=keyboards.topics_keyboard(knowledge, svc.locale),
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(services(context).t("help.text"))


async def topics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    await update.effective_message.reply_text(
        svc.t("topics.intro"),
        reply_markup=keyboards.topics_keyboard(svc.engine.knowledge, svc.locale),
    )


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/tanya <pertanyaan>`` — works in groups, where privacy mode hides plain text."""
    question = " ".join(context.args or []).strip()
    if not question:
        await update.effective_message.reply_text(services(context).t("ask.usage"))
        return
    await answer_question(update, context, question)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(services(context).t("help.unknown_command"))


# --- questions ------------------------------------------------------------------------------


async def on_private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message and message.text and not _echoes_bot(message, context.bot.id):
        await answer_question(update, context, message.text)


async def on_group_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In groups, a reply to one of the bot's own messages is a question to the bot."""
    message = update.effective_message
    replied = message.reply_to_message if message else None
    if not (message and message.text and replied and replied.from_user):
        return
    if replied.from_user.id != context.bot.id or _echoes_bot(message, context.bot.id):
        return
    await answer_question(update, context, message.text)


def _echoes_bot(message: Message, bot_id: int) -> bool:
    """One of our own answers coming back (shared through inline mode, or forwarded):
    not a question, and never one for the staff's unanswered queue."""
    if message.via_bot is not None and message.via_bot.id == bot_id:
        return True
    origin = message.forward_origin
    return isinstance(origin, MessageOriginUser) and origin.sender_user.id == bot_id


async def answer_question(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str
) -> None:
    svc = services(context)
    decision = svc.engine.decide(question)
    key = svc.record_question(update, decision)
    await reply_decision(update.effective_message, svc, decision, key)


async def reply_decision(message: Message, svc: Services, decision: Decision, key: str) -> None:
    knowledge = svc.engine.knowledge
    reply = build_reply(decision, knowledge, svc.locale, logged=True)
    await message.reply_text(
        svc.renderer.reply(reply, knowledge, Format.HTML, buttons=True),
        reply_markup=keyboards.reply_keyboard(reply, knowledge, svc.locale, key),
    )


async def on_non_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes, locations...: ask for words, kindly."""
    message = update.effective_message
    if message is None:
        return
    key = (
        "non_text.voice"
        if (message.voice or message.audio or message.video_note)
        else ("non_text.other")
    )
    await message.reply_text(services(context).t(key))


# --- the bot's own membership -----------------------------------------------------------


async def on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A resident blocked the bot ("kicked" in their private chat), or a group removed
    it: remember, so staff answers skip that chat. Unblocking needs nothing: the chat
    counts as reachable again as soon as it asks something."""
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    removed = status == ChatMemberStatus.BANNED or (
        status == ChatMemberStatus.LEFT and change.chat.type != ChatType.PRIVATE
    )
    if not removed:
        return
    try:
        await services(context).storage.mark_chat_inactive(change.chat.id)
    except StorageError as exc:  # locked or closed database: the next send will tell again
        log.warning("could not mark chat %s inactive: %s", change.chat.id, exc)


# --- buttons --------------------------------------------------------------------------------


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    svc = services(context)
    action = decode(query.data)
    knowledge = svc.engine.knowledge
    match action:
        case OpenEntry(entry_id, question_key) if (entry := knowledge.entry(entry_id)) is not None:
            await query.answer()
            if query.message is not None:
                # Opened from "Maksud Anda?" or a suggestion: 👍/👎 rate that question.
                if question_key and not svc.genuine_key(question_key):
                    question_key = None
                reply = entry_reply(entry, knowledge)
                await context.bot.send_message(
                    query.message.chat.id,
                    svc.renderer.reply(reply, knowledge, Format.HTML, buttons=True),
                    reply_markup=keyboards.reply_keyboard(
                        reply, knowledge, svc.locale, question_key
                    ),
                )
        case Feedback(value, question_key, entry_id) if (
            entry := knowledge.entry(entry_id)
        ) and svc.genuine_key(question_key):
            user = update.effective_user
            svc.storage.log_feedback(question_key, entry_id, user.id if user else None, value)
            await query.answer(svc.t("feedback.thanks_up" if value > 0 else "feedback.thanks_down"))
            await edit_markup(
                query, keyboards.after_feedback_keyboard(entry, knowledge, svc.locale)
            )
        case TopicPage(topic_id, page) if topic_id in knowledge.topics:
            await query.answer()
            topic = knowledge.topics[topic_id]
            await edit_text(
                query,
                svc.t("topics.page", emoji=topic.emoji, title=html.escape(topic.title)),
                keyboards.topic_page_keyboard(knowledge, topic_id, page, svc.locale),
            )
        case TopicList():
            await query.answer()
            await edit_text(
                query, svc.t("topics.intro"), keyboards.topics_keyboard(knowledge, svc.locale)
            )
        case StaffPage() | StaffIgnore():
            # Staff buttons are routed to the staff handler before this one; reaching
            # here means the presser is not staff: show nothing of the log.
            await query.answer(svc.t("staff.only"), show_alert=True)
        case _:
            await query.answer(svc.t("callback.stale"), show_alert=True)
