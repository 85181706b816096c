"""A stand-in Telegram Bot API HTTP server for end-to-end tests (standard library only).

It listens on 127.0.0.1 (random free port) in a daemon thread, so the bot under test can be
this process (``telegram.Bot(token, base_url=stub.base_url)``) or a child process::

    with BotApiStub() as stub:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"],
                                env={**os.environ, **stub.env()})
        stub.push_update(make_text_update("/start"))
        call = stub.wait_for("sendMessage", lambda c: c["chat_id"] == 111, timeout=10)

Paths are ``/bot<TOKEN>/<method>`` (PTB appends the token to ``base_url``); bodies may be JSON,
form-urlencoded (what PTB sends) or multipart (uploads). A wrong token gets 401, unknown
methods get ``{"ok": true, "result": true}``. ``getUpdates`` serves pushed updates honouring
``offset`` (confirms older ones), ``limit`` and ``timeout`` (long poll, woken by pushes).

When the bot runs in the *same* event loop as the test, use ``await stub.wait_for_async(...)``;
the blocking ``wait_for`` would freeze the loop the bot needs to make progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import html
import json
import re
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.support.fake_api import (
    TEST_TOKEN,
    Call,
    Failure,
    FailureQueue,
    FakeBotApi,
    UploadedFile,
    decode_form_value,
    make_failure,
)

_API_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z0-9_]+)/?")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)")
_WEBHOOK_CONFLICT = Failure(
    409,
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first",
)

Predicate = Callable[[Call], bool]


class StubTimeout(AssertionError):
    """``wait_for`` gave up; the message lists every request the stub saw."""


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Split a multipart/form-data body; file parts become :class:`UploadedFile`."""
    header = email.message_from_string(f"Content-Type: {content_type}\r\n\r\n")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        return {}
    params: dict[str, Any] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):  # closing delimiter
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        part = email.message_from_string(head.decode("utf-8", "replace") + "\r\n\r\n")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        if filename is not None:
            params[name] = UploadedFile(filename, data, part.get_content_type())
        else:
            params[name] = decode_form_value(name, data.decode("utf-8", "replace"))
    return params


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, honouring Content-Length or chunked transfer encoding."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()  # CRLF after each chunk
        while handler.rfile.readline().strip():  # trailer headers up to the blank line
            pass
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _read_params(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    """Query-string plus body parameters, with PTB's per-value JSON encoding undone."""
    params: dict[str, Any] = {
        k: decode_form_value(k, v)
        for k, v in parse_qsl(urlsplit(handler.path).query, keep_blank_values=True)
    }
    body = _read_body(handler)
    ctype = handler.headers.get_content_type()
    if ctype == "application/json" and body.strip():
        params.update(json.loads(body))
    elif ctype == "application/x-www-form-urlencoded":
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: decode_form_value(k, v) for k, v in pairs})
    elif ctype == "multipart/form-data":
        params.update(_parse_multipart(handler.headers.get("Content-Type", ""), body))
    return params


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck handler must never keep the test process alive
    # The default backlog of 5 resets connections when the bot sends a burst at once (e.g.
    # every reply held by flood control going out together); Telegram never does that.
    request_queue_size = 256
    stub: BotApiStub

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on long polls when they stop; that is not an error worth printing.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after close()

    def do_POST(self) -> None:
        try:
            self.server.stub._handle(self)
        except Exception as exc:  # a bug in the stub or in an `on()` responder: say so loudly
            traceback.print_exc()
            body = {"ok": False, "error_code": 500, "description": f"stub error: {exc!r}"}
            self.reply(500, json.dumps(body).encode())

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client went away (e.g. a cancelled long poll)
            pass


class BotApiStub:
    """Fake Bot API server. Start with ``with BotApiStub() as stub:`` or ``start()``/``close()``.

    All methods are thread-safe; ``wait_for`` blocks, ``wait_for_async`` does not.
    """

    def __init__(
        self,
        token: str = TEST_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_poll_timeout: float = 30.0,
    ) -> None:
        self.token = token
        self.api = FakeBotApi()
        self.failures = FailureQueue()
        #: Contents served at ``/file/bot<TOKEN>/<file_path>`` (getFile answers ``files/<id>``).
        self.files: dict[str, bytes] = {}
        self.max_poll_timeout = max_poll_timeout
        #: When set, sendMessage/editMessageText whose text (tags stripped, entities
        #: resolved, in UTF-16 units) is longer get 400 "message is too long", as Telegram
        #: does over 4096.
        self.text_limit: int | None = None
        self._address = (host, port)
        self._cond = threading.Condition()  # guards _updates, _calls, _closed
        self._updates: deque[dict[str, Any]] = deque()
        self._calls: list[Call] = []
        self._closed = False
        self._next_update_id = 1
        self._outages: list[tuple[str, float, Failure]] = []  # (method, until, failure)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        server = _Server(self._address, _Handler)
        server.stub = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"BotApiStub:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Wake all long polls, stop serving and free the port. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- addresses -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("BotApiStub is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Pass as ``Bot(base_url=...)`` / ``TELEGRAM_BASE_URL``; PTB appends the token."""
        return f"http://{self._address[0]}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self._address[0]}:{self.port}/file/bot"

    def api_url(self, method: str) -> str:
        """Full URL of one method, e.g. for a raw ``urllib`` request."""
        return f"{self.base_url}{self.token}/{method}"

    def env(self, token_var: str = "TELEGRAM_BOT_TOKEN") -> dict[str, str]:
        """Environment for a bot subprocess: base URLs, the token under ``token_var``, and
        NO_PROXY so an HTTP(S)_PROXY from CI cannot divert requests to 127.0.0.1."""
        return {
            "TELEGRAM_BASE_URL": self.base_url,
            "TELEGRAM_BASE_FILE_URL": self.base_file_url,
            token_var: self.token,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    # -- driving the bot -------------------------------------------------------------------------

    def push_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (``update_id`` assigned if missing); returns it."""
        return self.push_updates(update)[0]

    def push_updates(self, *updates: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Queue several updates at once: a long poll waiting now gets them in one batch
        (up to its ``limit``)."""
        items = []
        with self._cond:
            for update in updates:
                item = dict(update)
                item.setdefault("update_id", self._next_update_id)
                self._next_update_id = max(self._next_update_id, int(item["update_id"])) + 1
                self._updates.append(item)
                if len(self._updates) > 1 and self._updates[-2]["update_id"] > item["update_id"]:
                    # Telegram delivers in update_id order; keep the queue sorted.
                    self._updates = deque(sorted(self._updates, key=lambda u: u["update_id"]))
                items.append(item)
            self._cond.notify_all()
        return items

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by an ``offset`` (delivered or not)."""
        with self._cond:
            return list(self._updates)

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        description: str | None = None,
        retry_after: float | None = None,
        migrate_to_chat_id: int | None = None,
        delay: float = 0.0,
        disconnect: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"`` = any) with an error.

        ``status`` defaults to 429 with ``retry_after``, else 400. ``delay`` waits before
        answering; ``disconnect=True`` closes the socket without answering (client sees a
        NetworkError).
        """
        if disconnect:
            self.failures.push(method, ConnectionAbortedError("stub disconnect"), times)
            return
        failure = make_failure(status, description, retry_after, migrate_to_chat_id, delay)
        self.failures.push(method, failure, times)

    def fail_for(
        self,
        method: str,
        seconds: float,
        *,
        status: int | None = None,
        description: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer every call of ``method`` (``"*"`` = any) with an error for the next
        ``seconds``: an outage, e.g. flood control that lasts (429 with ``retry_after``)."""
        failure = make_failure(status, description, retry_after, None)
        with self._cond:
            self._outages.append((method.lower(), time.monotonic() + seconds, failure))

    def _outage(self, method: str) -> Failure | None:
        now = time.monotonic()
        with self._cond:
            self._outages = [o for o in self._outages if o[1] > now]
            for name, _until, failure in self._outages:
                if name in (method.lower(), "*"):
                    return failure
        return None

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next calls of ``method`` normally, but only after ``seconds``."""
        self.failures.push(method, Failure(200, delay=seconds), times)

    def on(self, method: str, result: Any) -> None:
        """Answer ``method`` with ``result`` (or ``result(params)`` if callable) from now on."""
        self.api.on(method, result)

    # -- inspection ------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded requests (all, or of one method, case-insensitive), oldest first."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method.lower() == method.lower()]

    def last(self, method: str | None = None) -> Call:
        """The most recent call of ``method``; AssertionError with a dump if none."""
        found = self.calls(method)
        if not found:
            raise AssertionError(f"no {method or 'Bot API'} request seen\n{self.dump()}")
        return found[-1]

    def mark(self) -> int:
        """Current number of recorded calls; pass as ``since=`` to ignore older ones."""
        with self._cond:
            return len(self._calls)

    def methods(self) -> list[str]:
        return [c.method for c in self.calls()]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts the bot successfully sent/edited (optionally only in ``chat_id``)."""
        return [
            c.params["text"]
            for c in self.calls()
            if c.ok
            and c.method in ("sendMessage", "editMessageText")
            and "text" in c.params
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def clear(self) -> None:
        """Forget calls, queued updates, failures, overrides and webhook state."""
        with self._cond:
            self._calls.clear()
            self._updates.clear()
            self._outages.clear()
        self.failures.clear()
        self.api.reset()

    def _find(self, method: str, predicate: Predicate | None, since: int) -> Call | None:
        for call in self._calls[since:]:
            if call.method.lower() == method.lower() and (predicate is None or predicate(call)):
                return call
        return None

    def wait_for(
        self,
        method: str,
        predicate: Predicate | None = None,
        timeout: float = 10.0,
        since: int = 0,
    ) -> Call:
        """Block until a call of ``method`` (index >= ``since``) matches ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (found := self._find(method, predicate, since)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StubTimeout(self._timeout_message(method, timeout))
                self._cond.wait(remaining)
            return found

    async def wait_for_async(
        self,
        method: str,
        predicate: Predicate | None = None,
        timeout: float = 10.0,
        since: int = 0,
    ) -> Call:
        """Like :meth:`wait_for` but polls with ``asyncio.sleep`` (bot in the same loop)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._find(method, predicate, since)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise StubTimeout(self._timeout_message(method, timeout))
            await asyncio.sleep(0.01)

    def _timeout_message(self, method: str, timeout: float) -> str:
        return f"no matching {method} request within {timeout}s\n{self.dump()}"

    def dump(self) -> str:
        """Every request seen plus the pending update ids, for assertion messages."""
        with self._cond:
            lines = [
                f"  {i}: {c.method} {'' if c.ok else f'[{c.status}] '}{c.params!r:.300}"
                for i, c in enumerate(self._calls)
            ]
            pending = [u["update_id"] for u in self._updates]
        calls = "\n".join(lines) or "  (none)"
        return f"requests seen by stub:\n{calls}\npending update ids: {pending}"

    # -- request handling (server threads) -------------------------------------------------------

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _handle(self, h: _Handler) -> None:
        path = unquote(urlsplit(h.path).path)
        if (m := _FILE_PATH.fullmatch(path)) and m["token"] == self.token:
            content = self.files.get(m["path"])
            if content is not None:
                h.reply(200, content, "application/octet-stream")
                return
        m = _API_PATH.fullmatch(path)
        if m is None:
            h.reply(404, json.dumps(Failure(404).body()).encode())
            return
        token, method = m["token"], m["method"]
        params = _read_params(h)
        if token != self.token:
            self._record(Call(method, params, token, ok=False, status=401))
            h.reply(401, json.dumps(Failure(401).body()).encode())
            return

        fault = self._outage(method) or self.failures.pop(method)
        if isinstance(fault, Failure) and fault.delay:
            with self._cond:  # interruptible sleep: close() wakes us
                self._cond.wait_for(lambda: self._closed, timeout=fault.delay)
        if isinstance(fault, Failure) and fault.status >= 300:
            self._record(Call(method, params, token, ok=False, status=fault.status))
            h.reply(fault.status, json.dumps(fault.body()).encode())
            return
        if fault is not None and not isinstance(fault, Failure):  # simulated transport error
            self._record(Call(method, params, token, ok=False, status=0))
            h.close_connection = True
            return

        if method.lower() == "getupdates":
            self._answer_get_updates(h, method, params, token)
            return
        if self._too_long(method, params):
            self._record(Call(method, params, token, ok=False, status=400))
            refusal = Failure(400, "Bad Request: message is too long")
            h.reply(400, json.dumps(refusal.body()).encode())
            return
        if method.lower() == "deletewebhook" and params.get("drop_pending_updates"):
            with self._cond:
                self._updates.clear()
        result = self.api.result(method, params)
        self._record(Call(method, params, token))
        h.reply(200, json.dumps({"ok": True, "result": result}).encode())

    def _too_long(self, method: str, params: dict[str, Any]) -> bool:
        text = params.get("text")
        if self.text_limit is None or method not in ("sendMessage", "editMessageText"):
            return False
        if not isinstance(text, str):
            return False
        if params.get("parse_mode") == "HTML":
            text = html.unescape(re.sub(r"<[^>]*>", "", text))
        return len(text.encode("utf-16-le")) // 2 > self.text_limit

    def _answer_get_updates(
        self, h: _Handler, method: str, params: dict[str, Any], token: str
    ) -> None:
        if self.api.webhook_url:
            self._record(Call(method, params, token, ok=False, status=409))
            h.reply(409, json.dumps(_WEBHOOK_CONFLICT.body()).encode())
            return
        # Recorded on arrival, so tests can wait for "the bot is polling now".
        self._record(Call(method, params, token))
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(float(params.get("timeout") or 0), self.max_poll_timeout)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._confirm(offset)
                ready = list(self._updates)[:limit]
                remaining = deadline - time.monotonic()
                if ready or self._closed or remaining <= 0:
                    break
                self._cond.wait(remaining)
        h.reply(200, json.dumps({"ok": True, "result": ready}).encode())

    def _confirm(self, offset: int) -> None:
        """Drop confirmed updates (id < offset); a negative offset keeps the last -offset."""
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        elif offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()


def main() -> None:
    """``python -m tests.support.botapi_stub``: serve until Ctrl-C (for manual bot runs)."""
    with BotApiStub() as stub:
        print(f"TELEGRAM_BASE_URL={stub.base_url}  token={stub.token}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
