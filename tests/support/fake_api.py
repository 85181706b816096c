"""Transport-independent pieces of the fake Telegram Bot API.

Shared by :mod:`tests.support.recording` (in-process ``BaseRequest``) and
:mod:`tests.support.botapi_stub` (HTTP server): the recorded ``Call`` record, canned
success results, the failure-injection queue and the decoding of form values.
Nothing here does I/O.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Token used by every test double unless a test asks for another one.
TEST_TOKEN = "123:TEST"

#: What ``getMe`` answers (a ``telegram.User`` with the bot-only fields).
BOT_USER: dict[str, Any] = {
    "id": 1,
    "is_bot": True,
    "first_name": "Tanya Balikpapan",
    "username": "TanyaBalikpapanBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}

#: The bot as it appears in ``Message.from`` (plain ``User`` fields only).
BOT_SENDER: dict[str, Any] = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}

# Form/multipart values arrive as strings; PTB JSON-encodes every non-string value.
# These parameters are *always* strings in the Bot API, so "123" or "true" must stay text.
# fmt: off
STRING_PARAMS = frozenset({
    "text", "caption", "data", "query", "next_offset", "offset_id", "callback_query_id",
    "inline_query_id", "shipping_query_id", "pre_checkout_query_id", "parse_mode",
    "caption_parse_mode", "url", "secret_token", "ip_address", "title", "description",
    "first_name", "last_name", "username", "emoji", "question", "explanation", "address",
    "phone_number", "action", "language_code", "business_connection_id", "message_effect_id",
    "inline_message_id", "switch_pm_text", "switch_pm_parameter", "name", "short_description",
    "file_id", "sticker", "custom_emoji_id", "payload", "provider_token", "currency",
})
# fmt: on

_DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded (multipart part): name, raw bytes and MIME type."""

    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"


@dataclass(frozen=True)
class Call:
    """One Bot API request as seen by a test double.

    ``params`` holds decoded values (ints, dicts, lists ...); uploaded files appear as
    :class:`UploadedFile` under their multipart field name. ``ok`` is False when the double
    answered with an injected (or 401) error, ``status`` is the HTTP status sent back.
    """

    method: str
    params: dict[str, Any]
    token: str = TEST_TOKEN
    ok: bool = True
    status: int = 200
    at: float = field(default_factory=time.monotonic, compare=False)

    def __getitem__(self, key: str) -> Any:
        """``call["text"]`` is a shortcut for ``call.params["text"]``."""
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass(frozen=True)
class Failure:
    """An error answer the double returns instead of the normal result.

    ``status`` 429 adds ``parameters.retry_after`` (PTB raises ``RetryAfter``); a
    ``migrate_to_chat_id`` adds that parameter (PTB raises ``ChatMigrated``); 403 → ``Forbidden``,
    400 → ``BadRequest``, 401/404 → ``InvalidToken``, 409 → ``Conflict``, others → ``NetworkError``.
    ``delay`` (HTTP stub only) sleeps before answering, to provoke a client-side timeout.
    """

    status: int = 400
    description: str | None = None
    retry_after: float | None = None
    migrate_to_chat_id: int | None = None
    delay: float = 0.0

    def body(self) -> dict[str, Any]:
        """The JSON error document Telegram would send."""
        retry_after = self.retry_after
        if self.status == 429 and retry_after is None:
            retry_after = 1
        template = self.description or _DEFAULT_DESCRIPTIONS.get(self.status, "Error")
        if self.migrate_to_chat_id is not None and self.description is None:
            template = "Bad Request: group chat was upgraded to a supergroup chat"
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": template.format(retry_after=retry_after),
        }
        parameters: dict[str, Any] = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


#: What a failure queue holds: an HTTP-level error, or (in-process only) an exception to raise.
Fault = Failure | BaseException | type[BaseException]


class FailureQueue:
    """Per-method FIFO of faults; ``"*"`` matches any method. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}

    def push(self, method: str, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._queues.setdefault(method.lower(), deque()).extend([fault] * times)

    def pop(self, method: str) -> Fault | None:
        """Next fault for ``method`` (method-specific first, then ``"*"``), or None."""
        with self._lock:
            for key in (method.lower(), "*"):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
        return None

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {k: len(q) for k, q in self._queues.items() if q}

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


def make_failure(
    status: int | None,
    description: str | None,
    retry_after: float | None,
    migrate_to_chat_id: int | None,
    delay: float = 0.0,
) -> Failure:
    """Build a :class:`Failure`, inferring the status from the other arguments if omitted."""
    if status is None:
        status = 429 if retry_after is not None else 400
    return Failure(status, description, retry_after, migrate_to_chat_id, delay)


def decode_form_value(key: str, raw: str) -> Any:
    """Undo PTB's per-parameter JSON encoding for a form/multipart string value."""
    if key in STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # a plain string such as "typing" or "@channel"


def chat_for(chat_id: Any) -> dict[str, Any]:
    """A plausible ``Chat`` for an id: >0 private, -100… supergroup, <0 group, @name channel."""
    if isinstance(chat_id, str) and chat_id.startswith("@"):
        return {
            "id": -1001234567890,
            "type": "channel",
            "title": chat_id[1:],
            "username": chat_id[1:],
        }
    try:
        cid = int(chat_id)
    except (TypeError, ValueError):
        cid = 0
    if cid > 0:
        return {"id": cid, "type": "private", "first_name": "Warga"}
    if str(cid).startswith("-100"):
        return {"id": cid, "type": "supergroup", "title": "Grup Uji"}
    return {"id": cid, "type": "group", "title": "Grup Uji"}


Responder = Callable[[dict[str, Any]], Any]


class FakeBotApi:
    """Produces minimal, realistic success results for Bot API methods. Thread-safe.

    ``on(method, result)`` overrides a method's answer (a value, or a callable taking the
    params dict). Unknown methods answer ``True`` like most "action" methods do.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._overrides: dict[str, Responder] = {}
        self._commands: dict[str, list[Any]] = {}
        self.webhook_url = ""

    def on(self, method: str, result: Any) -> None:
        """Answer ``method`` with ``result`` (or ``result(params)`` if callable) from now on."""
        responder: Responder = result if callable(result) else (lambda _params: result)
        with self._lock:
            self._overrides[method.lower()] = responder

    def reset(self) -> None:
        with self._lock:
            self._overrides.clear()
            self._commands.clear()
            self.webhook_url = ""

    def next_message_id(self) -> int:
        with self._lock:
            return next(self._message_ids)

    def result(self, method: str, params: Mapping[str, Any]) -> Any:
        """The ``result`` field of a successful answer to ``method(params)``."""
        name = method.lower()
        with self._lock:
            override = self._overrides.get(name)
        if override is not None:
            return override(dict(params))
        handler = getattr(self, f"_r_{name}", None)
        if handler is not None:
            return handler(params)
        if name.startswith(("send", "forward")) and name != "sendchataction":
            return self.message(params)
        if name.startswith("edit"):
            return True if "inline_message_id" in params else self.message(params, edited=True)
        return True

    # -- building blocks ---------------------------------------------------------------------

    def message(self, params: Mapping[str, Any], *, edited: bool = False) -> dict[str, Any]:
        """A ``Message`` sent by the bot, echoing chat id, text/caption and inline keyboard."""
        message_id = params.get("message_id") if edited else None
        msg: dict[str, Any] = {
            "message_id": message_id or self.next_message_id(),
            "from": dict(BOT_SENDER),
            "chat": chat_for(params.get("chat_id")),
            "date": int(time.time()),
        }
        if edited:
            msg["edit_date"] = int(time.time())
        for key in ("text", "caption"):
            if isinstance(params.get(key), str):
                msg[key] = params[key]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        return msg

    def _file(self, prefix: str, upload: Any) -> dict[str, Any]:
        n = next(self._file_ids)
        info: dict[str, Any] = {"file_id": f"{prefix}-stub-{n}", "file_unique_id": f"u{prefix}{n}"}
        if isinstance(upload, UploadedFile):
            info["file_size"] = len(upload.content)
        return info

    # -- per-method results (looked up as _r_<lowercased method>) ----------------------------

    def _r_getme(self, _params: Mapping[str, Any]) -> dict[str, Any]:
        return dict(BOT_USER)

    def _r_getupdates(self, _params: Mapping[str, Any]) -> list[Any]:
        return []

    def _r_senddocument(self, params: Mapping[str, Any]) -> dict[str, Any]:
        upload = params.get("document")
        doc = self._file("BQAC", upload)
        if isinstance(upload, UploadedFile):
            doc.update(file_name=upload.filename, mime_type=upload.mimetype)
        return {**self.message(params), "document": doc}

    def _r_sendphoto(self, params: Mapping[str, Any]) -> dict[str, Any]:
        upload = params.get("photo")
        sizes = [(90, 90), (320, 320), (800, 800)]
        photo = [{**self._file("AgAC", upload), "width": w, "height": h} for w, h in sizes]
        return {**self.message(params), "photo": photo}

    def _r_sendsticker(self, params: Mapping[str, Any]) -> dict[str, Any]:
        sticker = {
            **self._file("CAAC", params.get("sticker")),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return {**self.message(params), "sticker": sticker}

    def _r_sendmediagroup(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        media = params.get("media") or []
        return [self.message(params) for _ in media]

    def _r_copymessage(self, _params: Mapping[str, Any]) -> dict[str, Any]:
        return {"message_id": self.next_message_id()}

    def _r_getfile(self, params: Mapping[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id"))
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": 0,
            "file_path": f"files/{file_id}",
        }

    def _r_getchat(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **chat_for(params.get("chat_id")),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _r_getchatmember(self, params: Mapping[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id", 0)
        return {"status": "member", "user": {"id": user_id, "is_bot": False, "first_name": "Warga"}}

    def _r_getwebhookinfo(self, _params: Mapping[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}

    def _r_setwebhook(self, params: Mapping[str, Any]) -> bool:
        self.webhook_url = str(params.get("url", ""))
        return True

    def _r_deletewebhook(self, _params: Mapping[str, Any]) -> bool:
        self.webhook_url = ""
        return True

    def _commands_key(self, params: Mapping[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code", "")], sort_keys=True)

    def _r_setmycommands(self, params: Mapping[str, Any]) -> bool:
        with self._lock:
            self._commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    def _r_deletemycommands(self, params: Mapping[str, Any]) -> bool:
        with self._lock:
            self._commands.pop(self._commands_key(params), None)
        return True

    def _r_getmycommands(self, params: Mapping[str, Any]) -> list[Any]:
        with self._lock:
            return list(self._commands.get(self._commands_key(params), []))

    def _r_getchatmenubutton(self, _params: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": "default"}
