"""In-memory Bot API transport for handler tests (no sockets, no real Telegram).

Typical use::

    req = RecordingRequest()
    app = build_application(req)          # ApplicationBuilder().token(...).request(req)...
    app.add_handler(CommandHandler("start", start))
    await app.initialize()                # calls getMe on req
    await app.process_update(Update.de_json(make_text_update("/start"), app.bot))
    assert req.last("sendMessage")["text"].startswith("Halo")
    await app.shutdown()

Failures are injected per method and consumed in order::

    req.fail_next("sendMessage", status=429, retry_after=1)   # -> telegram.error.RetryAfter
    req.fail_next("sendMessage", status=403)                   # -> Forbidden (bot was blocked)
    req.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
    req.fail_next("sendMessage", exc=TimedOut())               # raised as-is from the transport
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter
from telegram.request import BaseRequest, RequestData

from tests.support.fake_api import (
    TEST_TOKEN,
    Call,
    Failure,
    FailureQueue,
    FakeBotApi,
    Fault,
    UploadedFile,
    make_failure,
)
from tests.support.updates import (  # re-exported: handler tests need both halves
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
)

__all__ = [
    "TEST_TOKEN",
    "Call",
    "RecordingRequest",
    "UploadedFile",
    "application_builder",
    "build_application",
    "make_callback_update",
    "make_command_update",
    "make_document_update",
    "make_edited_message_update",
    "make_inline_update",
    "make_location_update",
    "make_my_chat_member_update",
    "make_photo_update",
    "make_sticker_update",
    "make_text_update",
    "make_voice_update",
    "process",
]


def _split_url(url: str) -> tuple[str, str]:
    """``https://host/bot<TOKEN>/<method>`` → (token, method)."""
    head, _, method = url.rpartition("/")
    segment = head.rpartition("/")[2]
    return segment.removeprefix("bot"), method


def _params(request_data: RequestData | None) -> dict[str, Any]:
    """Decoded parameters plus uploaded files (as :class:`UploadedFile`)."""
    if request_data is None:
        return {}
    # ``parameters`` are the JSON-able values *before* encoding, so no guessing is needed.
    params: dict[str, Any] = dict(request_data.parameters)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        raw = content if isinstance(content, bytes) else content.read()
        params[name] = UploadedFile(filename, raw, mimetype)
    return params


class RecordingRequest(BaseRequest):
    """A ``BaseRequest`` that records each call and answers like a healthy Bot API.

    Use the same instance for ``request`` and ``get_updates_request``. ``getUpdates`` returns
    ``[]`` (after a short nap when long-polling, so a running updater does not spin).
    File downloads (``Bot.get_file(...).download_*``) get ``files[file_path]`` or ``b""``.
    """

    def __init__(self, api: FakeBotApi | None = None, *, poll_nap: float = 0.05) -> None:
        self.api = api or FakeBotApi()
        self.failures = FailureQueue()
        self.files: dict[str, bytes] = {}
        self._calls: list[Call] = []
        self._poll_nap = poll_nap
        self.initialized = False

    # -- BaseRequest interface -----------------------------------------------------------------

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        self.initialized = True

    async def shutdown(self) -> None:
        self.initialized = False

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if method == "GET":  # Bot.retrieve(): a file download from base_file_url
            file_path = url.partition("/file/bot")[2].partition("/")[2]
            self._calls.append(Call("download", {"url": url, "file_path": file_path}))
            return 200, self.files.get(file_path, b"")

        token, api_method = _split_url(url)
        params = _params(request_data)
        fault = self.failures.pop(api_method)
        if isinstance(fault, Failure):  # an HTTP error answer; PTB maps it to an exception
            self._calls.append(Call(api_method, params, token, ok=False, status=fault.status))
            return fault.status, json.dumps(fault.body()).encode()
        if fault is not None:  # a transport exception (instance or class), raised as-is
            self._calls.append(Call(api_method, params, token, ok=False, status=0))
            raise fault

        if api_method.lower() == "getupdates" and params.get("timeout"):
            await asyncio.sleep(min(float(params["timeout"]), self._poll_nap))
        result = self.api.result(api_method, params)
        self._calls.append(Call(api_method, params, token))
        return 200, json.dumps({"ok": True, "result": result}).encode()

    # -- test controls ---------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        description: str | None = None,
        retry_after: float | None = None,
        migrate_to_chat_id: int | None = None,
        exc: BaseException | type[BaseException] | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"`` = any) fail.

        Either an HTTP error (``status``; 429 implied by ``retry_after``, default 400) that PTB
        maps to its exception, or ``exc`` (e.g. ``TimedOut()``, ``NetworkError("boom")``)
        raised directly, as PTB's own HTTPXRequest would on a transport problem.
        """
        fault: Fault = (
            exc
            if exc is not None
            else make_failure(status, description, retry_after, migrate_to_chat_id)
        )
        self.failures.push(method, fault, times)

    def on(self, method: str, result: Any) -> None:
        """Answer ``method`` with ``result`` (or ``result(params)`` if callable) from now on."""
        self.api.on(method, result)

    # -- inspection ------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls (all, or of one method, case-insensitive), oldest first."""
        if method is None:
            return list(self._calls)
        return [c for c in self._calls if c.method.lower() == method.lower()]

    def last(self, method: str | None = None) -> Call:
        """The most recent call of ``method``; AssertionError (with a dump) if there is none."""
        found = self.calls(method)
        if not found:
            raise AssertionError(f"no {method or 'Bot API'} call recorded\n{self.dump()}")
        return found[-1]

    def methods(self) -> list[str]:
        """Method names in call order, e.g. ``["getMe", "sendMessage"]``."""
        return [c.method for c in self._calls]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts the bot successfully sent/edited (optionally only in ``chat_id``)."""
        return [
            c.params["text"]
            for c in self._calls
            if c.ok
            and c.method in ("sendMessage", "editMessageText")
            and "text" in c.params
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def clear(self) -> None:
        """Forget recorded calls and pending failures (overrides stay)."""
        self._calls.clear()
        self.failures.clear()

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 2.0,
        since: int = 0,
    ) -> Call:
        """Await a call (at index >= ``since``) for handlers that reply in the background."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self._calls[since:]:
                if call.method.lower() == method.lower() and (predicate is None or predicate(call)):
                    return call
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {method}\n{self.dump()}"
                )
            await asyncio.sleep(0.005)

    def dump(self) -> str:
        """Human-readable list of recorded calls, for assertion messages."""
        lines = [
            f"  {i}: {c.method} {'' if c.ok else f'[{c.status}] '}{c.params!r:.300}"
            for i, c in enumerate(self._calls)
        ]
        return "recorded calls:\n" + ("\n".join(lines) or "  (none)")


def application_builder(request: RecordingRequest, token: str = TEST_TOKEN) -> ApplicationBuilder:
    """An ``ApplicationBuilder`` wired to ``request`` for both normal and getUpdates calls.

    Add more configuration before ``.build()``, e.g. ``.rate_limiter(AIORateLimiter())``.
    """
    return ApplicationBuilder().token(token).request(request).get_updates_request(request)


def build_application(
    request: RecordingRequest | None = None,
    *,
    token: str = TEST_TOKEN,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    configure: Callable[[ApplicationBuilder], ApplicationBuilder] | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build (not initialize) an Application on ``request``; the request is ``app.bot.request``.

    ``configure`` may tweak the builder (e.g. ``lambda b: b.concurrent_updates(True)``).
    """
    builder = application_builder(request or RecordingRequest(), token)
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    if configure is not None:
        builder = configure(builder)
    return builder.build()


async def process(app: Application[Any, Any, Any, Any, Any, Any], data: dict[str, Any]) -> Update:
    """Deserialize ``data`` with ``app.bot`` and run it through ``app.process_update``."""
    update = Update.de_json(data, app.bot)
    await app.process_update(update)
    return update
