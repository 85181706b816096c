"""Staff powers: checked by user id on every use, never by name, never shown to a
residents' group. Each test drives the real Application with a real database."""

from __future__ import annotations

from typing import Any

import pytest

from bot.matcher import DecisionKind
from bot.telegram.callbacks import StaffIgnore, StaffPage, decode
from tests.support import make_callback_update, make_command_update, make_text_update
from tests.support.harness import (
    ALL_STAFF_COMMANDS,
    OUT_OF_SCOPE,
    STAFF_CHAT,
    STAFF_ID,
    Harness,
    callback_data,
    pick,
    sent,
)

STAFF_NAME = "petugas_pemkot"
IMPOSTOR = 4242
RESIDENTS_GROUP = -1003000000003
ANONYMOUS_ADMIN = 1087968824  # Telegram's GroupAnonymousBot


async def with_open_groups(bot: Harness) -> list[int]:
    """Residents ask every out-of-scope question: more groups than one staff page."""
    questions = pick(bot.engine, OUT_OF_SCOPE, DecisionKind.FALLBACK)
    for i, question in enumerate(questions):
        await bot.send(make_text_update(question, user_id=201 + i))
    await bot.storage.flush()
    return [g.id for g in await bot.storage.open_groups(limit=100)]


def staff_command(command: str, args: str = "", **kw: Any) -> dict[str, Any]:
    return make_command_update(
        command, args, user_id=STAFF_ID, first_name="Petugas", username=STAFF_NAME, **kw
    )


async def test_a_resident_replaying_the_staff_buttons_gets_only_the_refusal(
    make_bot: Any,
) -> None:
    bot: Harness = await make_bot()
    groups = await with_open_groups(bot)
    assert len(groups) > 5
    listing = sent(
        await bot.send(staff_command("belumterjawab", chat_id=STAFF_CHAT, chat_type="supergroup"))
    )[0]
    data = callback_data(listing)
    kinds = {type(decode(d)) for d in data}
    assert kinds == {StaffIgnore, StaffPage}  # both staff buttons are on the message

    # Another member of the staff group, and a resident in private, press the exact data.
    for where in ({"chat_id": STAFF_CHAT, "chat_type": "supergroup"}, {}):
        for button in data:
            press = make_callback_update(button, user_id=IMPOSTOR, **where)
            calls = await bot.send(press)
            assert [c.method for c in calls] == ["answerCallbackQuery"], bot.req.dump()
            assert calls[0]["text"] == bot.t("staff.only") and calls[0]["show_alert"]
    assert sorted(g.id for g in await bot.storage.open_groups(limit=100)) == sorted(groups)

    # The same data from staff still works: the check is per press, not per message.
    ignore = next(d for d in data if isinstance(decode(d), StaffIgnore))
    calls = await bot.send(
        make_callback_update(ignore, user_id=STAFF_ID, chat_id=STAFF_CHAT, chat_type="supergroup")
    )
    assert sent(calls, "editMessageText")
    assert await bot.storage.count_open_groups() == len(groups) - 1


@pytest.mark.parametrize("command", ALL_STAFF_COMMANDS)
async def test_a_staff_username_is_not_a_staff_id(make_bot: Any, command: str) -> None:
    bot: Harness = await make_bot()
    [group, *_] = await with_open_groups(bot)
    # Same first name and username as the staff member (anyone can pick a free username,
    # or take over one a staff member gave up): refused.
    impostor = make_command_update(
        command,
        f"{group} dijawab palsu",
        user_id=IMPOSTOR,
        first_name="Petugas",
        username=STAFF_NAME,
    )
    calls = await bot.send(impostor)
    assert [c.method for c in calls] == ["sendMessage"]
    assert calls[0]["text"] == bot.t("staff.only")
    assert (await bot.storage.get_group(group)).status == "open"
    # The staff member, by id, is served.
    calls = await bot.send(staff_command(command))
    assert calls and bot.t("staff.only") not in [c.get("text") for c in calls]


async def test_an_anonymous_group_admin_is_not_staff(make_bot: Any) -> None:
    """In the staff group an admin may post 'as the group': the sender is Telegram's
    GroupAnonymousBot, not a staff user id."""
    bot: Harness = await make_bot()
    update = make_command_update(
        "ekspor", user_id=ANONYMOUS_ADMIN, chat_id=STAFF_CHAT, chat_type="supergroup"
    )
    update["message"]["sender_chat"] = {"id": STAFF_CHAT, "type": "supergroup", "title": "Staf"}
    calls = await bot.send(update)
    assert [c.method for c in calls] == ["sendMessage"]
    assert calls[0]["text"] == bot.t("staff.only")


@pytest.mark.parametrize("command", ALL_STAFF_COMMANDS)
async def test_staff_commands_in_a_residents_group_show_nothing_of_the_log(
    make_bot: Any, command: str
) -> None:
    bot: Harness = await make_bot()
    [group, *_] = await with_open_groups(bot)
    calls = await bot.send(
        staff_command(command, f"{group} jawaban", chat_id=RESIDENTS_GROUP, chat_type="supergroup")
    )
    assert [c.method for c in calls] == ["sendMessage"]
    assert calls[0]["chat_id"] == RESIDENTS_GROUP
    assert calls[0]["text"] == bot.t("staff.private_only")
    assert (await bot.storage.get_group(group)).status == "open"
    # In the staff group, the same command is served.
    calls = await bot.send(staff_command(command, chat_id=STAFF_CHAT, chat_type="supergroup"))
    assert calls and all(
        c.get("text") not in (bot.t("staff.only"), bot.t("staff.private_only")) for c in calls
    )


async def test_staff_buttons_pressed_in_a_residents_group_show_nothing(make_bot: Any) -> None:
    bot: Harness = await make_bot()
    [group, *_] = await with_open_groups(bot)
    for data in (f"si:{group}", "su:1"):
        press = make_callback_update(
            data, user_id=STAFF_ID, chat_id=RESIDENTS_GROUP, chat_type="supergroup"
        )
        calls = await bot.send(press)
        assert [c.method for c in calls] == ["answerCallbackQuery"]
        assert calls[0]["text"] == bot.t("staff.private_only")
    assert (await bot.storage.get_group(group)).status == "open"


async def test_an_edited_staff_command_is_ignored_even_from_staff(make_bot: Any) -> None:
    """Editing '/jawab …' must never deliver an answer a second time."""
    from tests.support import make_edited_message_update

    bot: Harness = await make_bot()
    [group, *_] = await with_open_groups(bot)
    edited = make_edited_message_update(f"/jawab {group} lagi", user_id=STAFF_ID)
    assert await bot.send(edited) == []
    assert (await bot.storage.get_group(group)).status == "open"


def test_export_cells_never_run_as_spreadsheet_formulas() -> None:
    from bot.reports import csv_bytes

    rows = [
        {"text": '=HYPERLINK("http://x","klik")', "normalized": "+1", "entry_id": "@x"},
        {"text": "-2+3", "normalized": "biasa", "entry_id": None},
    ]
    text = csv_bytes(rows).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+1" in text and "'@x" in text and "'-2+3" in text
    assert ",biasa," in text
