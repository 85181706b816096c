"""Every Telegram command, once: its names, who may use it, its menu line, its handler.

:func:`bot.telegram.app` registers the handlers and sets the per-scope command menus
from :data:`COMMANDS`; the tests' harness reads it for the staff commands, and a test
holds ``help.text`` (the /bantuan message) and the README's staff table to it.
A new command is one row here, its ``commands.*`` menu line in ``locales/id.yaml`` and,
for staff, a README row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import residents, staff

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


class Scope(StrEnum):
    RESIDENT = "resident"  # everyone, in every chat; in every menu
    STAFF = "staff"  # BOT_STAFF_IDS in staff chats only; in the staff chats' menus


@dataclass(frozen=True)
class TelegramCommand:
    name: str  # the command (the English name of a staff command)
    alias: str | None  # its Indonesian name, the one the menu shows
    scope: Scope
    description: str  # locale key of its line in the command menu
    handler: Handler
    in_help: bool = False  # listed in the /bantuan message (help.text)

    @property
    def menu_name(self) -> str:
        return self.alias or self.name

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, self.alias) if self.alias else (self.name,)


def _resident(
    name: str, alias: str | None, handler: Handler, *, in_help: bool = False
) -> TelegramCommand:
    return TelegramCommand(
        name, alias, Scope.RESIDENT, f"commands.{alias or name}", handler, in_help
    )


def _staff(name: str, alias: str, handler: Handler) -> TelegramCommand:
    return TelegramCommand(name, alias, Scope.STAFF, f"commands.{alias}", handler)


# In menu order: residents' commands first, then the staff's.
COMMANDS: Final[tuple[TelegramCommand, ...]] = (
    _resident("tanya", None, residents.ask_command, in_help=True),
    _resident("topik", None, residents.topics_command, in_help=True),
    _resident("help", "bantuan", residents.help_command, in_help=True),
    _resident("start", None, residents.start),
    _staff("unanswered", "belumterjawab", staff.unanswered),
    _staff("reply", "jawab", staff.reply),
    _staff("ignore", "abaikan", staff.ignore),
    _staff("export", "ekspor", staff.export),
    _staff("stats", "statistik", staff.stats),
    _staff("reload", "muatulang", staff.reload_knowledge),
)


def in_scope(scope: Scope) -> tuple[TelegramCommand, ...]:
    return tuple(c for c in COMMANDS if c.scope is scope)


def menu(scope: Scope) -> tuple[TelegramCommand, ...]:
    """The commands a chat's menu shows: residents' everywhere, and in staff chats the
    staff's after them."""
    shown = in_scope(Scope.RESIDENT)
    return shown + in_scope(Scope.STAFF) if scope is Scope.STAFF else shown
