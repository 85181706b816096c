"""The one Telegram command table: handlers, menus, /bantuan and the README follow it;
the callback prefixes and the paging row have one owner each."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.locale import Locale
from bot.paths import ROOT
from bot.telegram import callbacks
from bot.telegram.callbacks import (
    Feedback,
    OpenEntry,
    StaffIgnore,
    StaffPage,
    TopicList,
    TopicPage,
    encode,
)
from bot.telegram.commands import COMMANDS, Scope, in_scope, menu
from bot.telegram.keyboards import Paging
from bot.telegram.staff import on_staff_button

Factory = Callable[..., Any]


def test_every_command_has_its_menu_line_and_distinct_names(locale: Locale) -> None:
    names = [name for command in COMMANDS for name in command.names]
    assert len(names) == len(set(names))
    for command in COMMANDS:
        assert locale.has(command.description), command.description
        assert command.scope is Scope.RESIDENT or command.alias, command.name


def test_menus_per_scope() -> None:
    residents = [c.menu_name for c in menu(Scope.RESIDENT)]
    assert residents == ["tanya", "topik", "bantuan", "start"]
    assert [c.menu_name for c in menu(Scope.STAFF)] == [
        *residents,
        *(c.alias for c in in_scope(Scope.STAFF)),
    ]


def test_help_text_lists_the_commands_the_table_puts_in_it(locale: Locale) -> None:
    mentioned = set(re.findall(r"(?<![\w@<])/([a-z]+)", locale.t("help.text")))
    assert mentioned == {c.menu_name for c in COMMANDS if c.in_help}


def test_readme_staff_table_is_the_staff_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `/(\w+)[^`]*` \| `/(\w+)` \|", readme, re.M)
    assert rows == [c.names for c in in_scope(Scope.STAFF)]


async def test_the_application_registers_exactly_the_table(make_bot: Factory) -> None:
    bot = await make_bot()
    handlers = [h for group in bot.app.handlers.values() for h in group]
    registered = [h for h in handlers if isinstance(h, CommandHandler)]
    assert [set(h.commands) for h in registered] == [
        set(c.names) for c in (*in_scope(Scope.STAFF), *in_scope(Scope.RESIDENT))
    ]
    staff_buttons = [
        h for h in handlers if isinstance(h, CallbackQueryHandler) and h.pattern is not None
    ]
    assert [h.pattern.pattern for h in staff_buttons] == [callbacks.STAFF_PATTERN]
    assert staff_buttons[0].callback.__wrapped__ is on_staff_button


def test_staff_pattern_takes_the_staff_buttons_and_only_them() -> None:
    staff = [StaffPage(3), StaffIgnore(42)]
    others = [
        OpenEntry("uhc"),
        OpenEntry("uhc", "k3y"),
        Feedback(1, "k3y", "uhc"),
        TopicPage("kesehatan", 1),
        TopicPage("sampah", 0),
        TopicList(),
    ]
    pattern = re.compile(callbacks.STAFF_PATTERN)
    assert all(pattern.match(encode(c)) for c in staff)
    assert not any(pattern.match(encode(c)) for c in others)
    assert set(callbacks.PREFIX) == {type(c) for c in staff + others}
    assert len(set(callbacks.PREFIX.values())) == len(callbacks.PREFIX)


def test_paging_clamps_and_offers_only_pages_that_exist(locale: Locale) -> None:
    assert Paging.of(0, 3, 5) == Paging(0, 1, 5)
    assert Paging.of(11, 9, 5) == Paging(2, 3, 5)
    assert Paging.of(11, -1, 5).offset == 0
    assert list(Paging.of(11, 2, 5).window(range(11))) == [10]

    def labels(paging: Paging) -> list[tuple[str, str | None]]:
        return [(b.text, b.callback_data) for b in paging.nav(locale, StaffPage)]

    previous, following = locale.t("buttons.previous"), locale.t("buttons.next")
    assert labels(Paging.of(11, 0, 5)) == [(following, "su:1")]
    assert labels(Paging.of(11, 1, 5)) == [(previous, "su:0"), (following, "su:2")]
    assert labels(Paging.of(11, 2, 5)) == [(previous, "su:1")]
    assert labels(Paging.of(3, 0, 5)) == []
