"""Updates in: each one read on its own, so one the library cannot read never stops the rest.

python-telegram-bot turns a whole ``getUpdates`` batch into ``Update`` objects at once,
and one update it cannot read (a poll without ``allows_revoting`` from a Bot API server
older than the library, ``"message": "hello"`` from a broken proxy) fails the batch: the
offset never moves, the same batch is fetched again forever, and the bot is deaf. Its
webhook server answers such a body 400, so Telegram sends it again and again.

* :class:`GuardedBot` reads a batch update by update (:func:`read_update`). One that
  cannot be read is logged once, one line (its id and kind, never its content), and
  dropped; the next ``getUpdates`` confirms it even when it was the last of its batch.
* :class:`GuardedUpdater` polls as PTB does, but serves the webhook with
  :class:`WebhookServer`: the secret is checked from the headers before any of the
  body is read, bodies are capped at :data:`MAX_BODY`, and a body that cannot be read
  is answered 200 (so Telegram drops it) with one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import hmac
import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from telegram import Bot, Update
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram.error import InvalidToken
from telegram.ext import ExtBot, Updater

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Telegram's updates are a few KB; 1 MiB leaves room for anything real
MAX_HEAD = 16 * 1024  # request line plus headers
HEAD_TIMEOUT = 30.0  # seconds to send the headers (also the keep-alive idle limit)
BODY_TIMEOUT = 30.0
MAX_CONNECTIONS = 200  # Telegram opens at most max_connections (default 40)
SECRET_HEADER = "x-telegram-bot-api-secret-token"
CONFIRMED = "confirmed, so Telegram does not send it again"
ANSWERED = "answered 200, so Telegram does not send it again"
_KIND = re.compile(r"[a-z_]{1,40}")


def _describe(data: object) -> tuple[str, str]:
    """An update's id and kind for a log line; never any of its content."""
    if not isinstance(data, dict):
        return "?", f"a JSON {type(data).__name__}, not an object"
    update_id = data.get("update_id")
    ident = str(update_id) if isinstance(update_id, int) else "?"
    kinds = [k for k in data if k != "update_id" and isinstance(k, str) and _KIND.fullmatch(k)]
    return ident, ", ".join(kinds[:3]) or "no content"


def read_update(data: object, bot: Bot | None, source: str, outcome: str) -> Update | None:
    """The :class:`Update` in ``data``, or None after one warning (``source`` and
    ``outcome`` complete its sentence) when it cannot be read."""
    try:
        if not isinstance(data, dict):
            raise TypeError("an update must be a JSON object")
        return Update.de_json(data, bot)
    except Exception as exc:  # whatever the library raises: the update is lost, not the bot
        ident, kind = _describe(data)
        reason = f"{type(exc).__name__}: {exc}"[:200]
        log.warning(
            "skipped update %s from %s (%s): python-telegram-bot cannot read it (%s); %s",
            ident,
            source,
            kind,
            reason,
            outcome,
        )
        return None


class GuardedBot(ExtBot[None]):
    """:class:`ExtBot` whose ``get_updates`` never fails on an update it cannot read,
    and which stops the process when Telegram refuses its token while it runs."""

    __slots__ = ("_confirm_up_to", "_running", "_stop", "_token_refused")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._running = False  # start-up is over (refusals at start are run()'s to report)
        self._token_refused = False
        self._stop: Callable[[], object] | None = None  # how run() stops the application
        # One past the highest update id received, so the next getUpdates confirms an
        # unreadable update even when it was the last of its batch (the Updater takes
        # its offset from the last update it was given).
        self._confirm_up_to = 0

    @property
    def token_refused(self) -> bool:
        """Telegram refused the token after start-up (it was revoked while running)."""
        return self._token_refused

    def started(self) -> None:
        """Start-up is over: from now on a refused token stops the application."""
        self._running = True

    def stop_when_refused(self, stop: Callable[[], object]) -> None:
        """``stop`` (``Application.stop_running``) is called once if Telegram refuses the
        token after start-up; only the real process asks for this, not tests' bots."""
        self._stop = stop

    async def _post(self, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._post(endpoint, *args, **kwargs)
        except InvalidToken:
            if self._running and self._stop is not None and not self._token_refused:
                # A token revoked while running: PTB's polling gives up for good and
                # the process would stay up, deaf. Stop the application the clean way
                # (the log is flushed); run() then exits 1 with one line.
                self._token_refused = True
                self._stop()
            raise

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: int | float | dtm.timedelta | None = None,
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: Any = DEFAULT_NONE,
        write_timeout: Any = DEFAULT_NONE,
        connect_timeout: Any = DEFAULT_NONE,
        pool_timeout: Any = DEFAULT_NONE,
        api_kwargs: dict[str, Any] | None = None,
    ) -> tuple[Update, ...]:
        if self._token_refused:  # stopping: asking again would only be refused again
            await asyncio.sleep(0.5)
            return ()
        # What Bot.get_updates does, except that each update is read on its own.
        if self._confirm_up_to and (offset is None or 0 <= offset < self._confirm_up_to):
            offset = self._confirm_up_to
        data: dict[str, Any] = {
            "timeout": timeout,
            "offset": offset,
            "limit": limit,
            "allowed_updates": allowed_updates,
        }
        if isinstance(read_timeout, DefaultValue):
            base_timeout = self._request[0].read_timeout or 0
        else:
            base_timeout = read_timeout or 0
        poll = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else timeout or 0
        try:
            result = await self._post(
                "getUpdates",
                data,
                read_timeout=base_timeout + poll,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
                api_kwargs=api_kwargs,
            )
        except InvalidToken:
            if not self._token_refused:
                raise  # at start-up: run() reports it
            return ()  # the process is stopping (see _post); PTB's shutdown stays clean
        if not isinstance(result, list):
            log.warning("getUpdates answered a JSON %s, not a list; ignored", type(result).__name__)
            return ()
        updates = []
        for item in result:
            update = read_update(item, self, "getUpdates", CONFIRMED)
            if update is not None:
                self.insert_callback_data(update)
                updates.append(update)
        ids = [i["update_id"] for i in result if isinstance(i, dict)]
        ids = [i for i in ids if isinstance(i, int)]
        if ids and (not updates or updates[-1].update_id < max(ids)):
            self._confirm_up_to = max(self._confirm_up_to, max(ids) + 1)
        return tuple(updates)


class GuardedUpdater(Updater):
    """Polls as PTB does (through :class:`GuardedBot`); serves the webhook with
    :class:`WebhookServer` instead of PTB's server."""

    def __init__(self, bot: Bot, update_queue: asyncio.Queue[object]) -> None:
        super().__init__(bot, update_queue)
        self._webhook: WebhookServer | None = None

    async def start_webhook(  # type: ignore[override]
        self,
        listen: Any = "127.0.0.1",
        port: Any = 80,
        url_path: str = "",
        cert: str | Path | None = None,
        key: str | Path | None = None,
        bootstrap_retries: int = 0,
        webhook_url: str | None = None,
        allowed_updates: Sequence[str] | None = None,
        drop_pending_updates: bool | None = None,
        ip_address: str | None = None,
        max_connections: int = 40,
        secret_token: str | None = None,
        unix: Any = None,
    ) -> asyncio.Queue[object]:
        if self.running:
            raise RuntimeError("This Updater is already running!")
        if cert or key or unix or not webhook_url:
            raise RuntimeError("only a public webhook_url behind TLS termination is supported")
        server = WebhookServer("/" + url_path.strip("/"), secret_token, self.bot, self.update_queue)
        await server.start(DefaultValue.get_value(listen), DefaultValue.get_value(port))
        self._running = True
        try:
            await self.bot.set_webhook(
                url=webhook_url,
                allowed_updates=allowed_updates,
                drop_pending_updates=drop_pending_updates,
                ip_address=ip_address,
                max_connections=max_connections,
                secret_token=secret_token,
            )
        except BaseException:
            self._running = False
            await server.stop()
            raise
        self._webhook = server
        return self.update_queue

    async def stop(self) -> None:
        if self._webhook is None:
            await super().stop()
            return
        self._running = False
        server, self._webhook = self._webhook, None
        await server.stop()


class _Refused(Exception):
    """Answer with ``status`` and close the connection (the body, if any, is unread)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
}


class WebhookServer:
    """A small HTTP/1.1 server for Telegram's webhook POSTs on one path.

    Before reading a byte of the body it checks the path, the method, the secret header
    (constant time) and ``Content-Length`` (at most :data:`MAX_BODY`); headers, bodies and
    idle keep-alive connections are time-limited, connections are capped. Every readable
    update goes to the update queue; a body that is not a readable update is answered
    200 (Telegram then drops it instead of resending it) with one warning.
    """

    def __init__(
        self,
        path: str,
        secret: str | None,
        bot: Bot,
        update_queue: asyncio.Queue[object],
        *,
        max_body: int = MAX_BODY,
    ) -> None:
        self.path = path
        self.secret = secret.encode() if secret else None
        self.bot = bot
        self.update_queue = update_queue
        self.max_body = max_body
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_HEAD)
        log.info("webhook server listening on %s:%s%s", host, port, self.path)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._tasks) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            keep_alive = True
            while keep_alive:
                keep_alive = await self._request(reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, asyncio.LimitOverrunError):
            pass  # the client went away, or was too slow: nothing to answer
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; whether the connection may carry another."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await self._answer(writer, 400, close=True)
            return False
        except (asyncio.LimitOverrunError, ValueError):
            await self._answer(writer, 431, close=True)
            return False
        try:
            version, headers, length = self._check(head)
        except _Refused as refused:
            log.debug("webhook request refused (%d): %s", refused.status, refused)
            await self._answer(writer, refused.status, close=True)
            return False
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await asyncio.wait_for(reader.readexactly(length), BODY_TIMEOUT) if length else b""
        await self._accept(body)
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        await self._answer(writer, 200, close=not keep_alive)
        return keep_alive

    def _check(self, head: bytes) -> tuple[str, dict[str, str], int]:
        """The request's version, headers and body length, or :class:`_Refused`."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _Refused(400, "not an HTTP/1.x request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _Refused(400, "malformed header line")
            name, value = name.strip().lower(), value.strip()
            repeated = name in ("content-length", SECRET_HEADER) and name in headers
            if repeated and headers[name] != value:
                raise _Refused(400, f"conflicting {name} headers")
            headers[name] = value
        if urlsplit(target).path.rstrip("/") != self.path.rstrip("/"):
            raise _Refused(404, "another path")
        if method != "POST":
            raise _Refused(405, f"method {method[:10]!r}")
        if self.secret is not None:
            given = headers.get(SECRET_HEADER, "").encode("latin-1")
            if not hmac.compare_digest(given, self.secret):
                raise _Refused(403, "missing or wrong secret token")
        if "transfer-encoding" in headers:
            raise _Refused(411, "chunked body (Telegram sends Content-Length)")
        raw = headers.get("content-length", "0")
        if not raw.isdigit():
            raise _Refused(400 if raw else 411, "bad Content-Length")
        length = int(raw)
        if length > self.max_body:
            log.warning(
                "webhook request refused: a %d-byte body is over the %d-byte limit",
                length,
                self.max_body,
            )
            raise _Refused(413, "body too large")
        return version, headers, length

    async def _accept(self, body: bytes) -> None:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning(
                "skipped a webhook request whose body is not JSON (%d bytes: %s); %s",
                len(body),
                type(exc).__name__,
                ANSWERED,
            )
            return
        update = read_update(data, self.bot, "the webhook", ANSWERED)
        if update is None:
            return
        if isinstance(self.bot, ExtBot):
            self.bot.insert_callback_data(update)
        await self.update_queue.put(update)

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, *, close: bool) -> None:
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Length: 0\r\n"
        if close:
            head += "Connection: close\r\n"
        writer.write(head.encode() + b"\r\n")
        await writer.drain()
