"""Test doubles for the Telegram Bot API.

* :mod:`tests.support.recording` – ``RecordingRequest``: in-memory transport for handler tests.
* :mod:`tests.support.botapi_stub` – ``BotApiStub``: HTTP stand-in for end-to-end/subprocess tests.
* :mod:`tests.support.updates` – builders for raw update dicts.
* :mod:`tests.support.fixtures` – pytest fixtures (``botapi_stub``, ``recording_request``,
  ``recording_app``) for ``tests/conftest.py`` to re-export.
"""

from tests.support.botapi_stub import BotApiStub, StubTimeout
from tests.support.fake_api import BOT_USER, TEST_TOKEN, Call, Failure, FakeBotApi, UploadedFile
from tests.support.recording import (
    RecordingRequest,
    application_builder,
    build_application,
    process,
)
from tests.support.updates import (
    make_callback_update,
    make_chat,
    make_command_update,
    make_document_update,
    make_edited_message_update,
    make_inline_update,
    make_location_update,
    make_message,
    make_my_chat_member_update,
    make_photo_update,
    make_sticker_update,
    make_text_update,
    make_user,
    make_voice_update,
)

__all__ = [
    "BOT_USER",
    "TEST_TOKEN",
    "BotApiStub",
    "Call",
    "Failure",
    "FakeBotApi",
    "RecordingRequest",
    "StubTimeout",
    "UploadedFile",
    "application_builder",
    "build_application",
    "make_callback_update",
    "make_chat",
    "make_command_update",
    "make_document_update",
    "make_edited_message_update",
    "make_inline_update",
    "make_location_update",
    "make_message",
    "make_my_chat_member_update",
    "make_photo_update",
    "make_sticker_update",
    "make_text_update",
    "make_user",
    "make_voice_update",
    "process",
]
