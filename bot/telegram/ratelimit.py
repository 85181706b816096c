"""Outgoing Bot API calls: Telegram's flood limits, plus retries of transient network faults.

:class:`RetryingRateLimiter` keeps the bot under Telegram's limits (30 messages a second
overall, 20 a minute per group) and, per error class:

* ``RetryAfter`` (429, Telegram's flood control): every request waits the ``retry_after``
  Telegram asks for, then tries again, for as long as flood control lasts, up to
  :data:`FLOOD_WAIT_LIMIT` seconds of waiting per request. While one request waits,
  all wait (sending more would only prolong it). One warning when an outage starts, one
  info line when it lifts, never a traceback.
* A timeout or plain network error (connection reset, a 5xx from Telegram): a bounded
  retry with short exponential backoff, so a blip does not cost a resident their answer.
* Never retried: ``BadRequest`` (it subclasses ``NetworkError``, but means our request
  was wrong), ``Forbidden`` (the user blocked the bot), ``InvalidToken``, ``Conflict``,
  ``ChatMigrated``.

* A send whose answer did not come in time (a read timeout on ``sendMessage`` and the
  other ``send*`` / ``forward*`` / ``copy*`` methods) is **not** sent again: Telegram may
  have delivered it, and a resident must not get one answer twice. Timeouts are set to
  fit the Bot API's real latency (:data:`READ_TIMEOUT`), so this is rare; one warning.
  A connect or pool timeout (the request never left) is retried like a network error.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import logging
import time
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine
from enum import StrEnum
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.constants import FloodLimit
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

FLOOD_WAIT_LIMIT = 900.0  # seconds of flood-control waiting per request before giving up
NETWORK_RETRIES = 3  # timeouts / network errors retried per request
NETWORK_BACKOFF = 0.25  # seconds before the first retry; doubles each time
RETRY_MARGIN = 0.1  # seconds added to Telegram's retry_after

JSONResult = bool | dict[str, Any] | list[dict[str, Any]]


READ_TIMEOUT = 30.0  # seconds for Telegram to answer a request; it can be slow under load
WRITE_TIMEOUT = 30.0  # seconds to send a request's body (documents can be large)
CONNECT_TIMEOUT = 10.0
_SENDS = ("send", "forward", "copy")  # methods that deliver something new when repeated


def is_transient(error: BaseException) -> bool:
    """A timeout or network fault worth retrying (``TimedOut`` is a ``NetworkError``)."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def may_have_arrived(endpoint: str, error: BaseException) -> bool:
    """Whether a failed request may still have been carried out: a send whose answer
    timed out after the request went out (httpx's ReadTimeout under PTB's TimedOut)."""
    if not isinstance(error, TimedOut) or not endpoint.lower().startswith(_SENDS):
        return False
    import httpx

    return isinstance(error.__cause__, httpx.ReadTimeout)


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form is deprecated
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


class RetryingRateLimiter(BaseRateLimiter[int]):
    def __init__(
        self,
        *,
        overall_max_rate: float = FloodLimit.MESSAGES_PER_SECOND,
        group_max_rate: float = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        flood_wait_limit: float = FLOOD_WAIT_LIMIT,
        network_retries: int = NETWORK_RETRIES,
        backoff: float | None = None,
    ) -> None:
        if network_retries < 0:
            raise ValueError("network_retries must be >= 0")
        self.overall = AsyncLimiter(overall_max_rate, 1) if overall_max_rate else None
        self.group_max_rate = group_max_rate
        self._groups: dict[int | str, AsyncLimiter] = {}
        self.flood_wait_limit = flood_wait_limit
        self.network_retries = network_retries
        self.backoff = NETWORK_BACKOFF if backoff is None else backoff
        self._resume_at = 0.0  # time.monotonic() before which nothing is sent
        self._outage_since: float | None = None  # first 429 of the current outage
        self._held = 0  # requests that got a 429 in the current outage

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @contextlib.asynccontextmanager
    async def _slot(self, data: dict[str, Any]) -> AsyncIterator[None]:
        """Wait for flood control to lift, then for room under Telegram's rate limits."""
        while (pause := self._resume_at - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        chat_id = data.get("chat_id")
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        group = None
        if self.group_max_rate and (
            (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str)
        ):
            group = self._groups.get(chat_id)
            if group is None:
                group = self._groups[chat_id] = AsyncLimiter(self.group_max_rate, 60)
        async with contextlib.AsyncExitStack() as stack:
            if group is not None:
                await stack.enter_async_context(group)
            if self.overall is not None and chat_id is not None:
                await stack.enter_async_context(self.overall)
            yield

    def _flood(self, endpoint: str, seconds: float) -> None:
        now = time.monotonic()
        self._resume_at = max(self._resume_at, now + seconds)
        self._held += 1
        if self._outage_since is None:
            self._outage_since = now
            log.warning(
                "Telegram's flood control (429) on %s: holding every request for %.0f s as "
                "it asks, and for as long as it lasts; replies are sent when it lifts",
                endpoint,
                seconds,
            )
        else:
            log.debug("flood control again on %s: waiting %.1f s", endpoint, seconds)

    def _lifted(self) -> None:
        if self._outage_since is not None:
            log.info(
                "Telegram's flood control lifted after %.0f s (%d requests held); "
                "they are going out",
                time.monotonic() - self._outage_since,
                self._held,
            )
            self._outage_since, self._held = None, 0

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONResult:
        attempt = 0
        waited = 0.0  # seconds this request spent in flood control
        while True:
            try:
                async with self._slot(data):
                    result = await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc) + RETRY_MARGIN
                if waited + seconds > self.flood_wait_limit:
                    log.warning(
                        "%s given up after %.0f s of Telegram's flood control", endpoint, waited
                    )
                    raise
                waited += seconds
                self._flood(endpoint, seconds)
                continue
            except NetworkError as exc:
                if may_have_arrived(endpoint, exc):
                    log.warning(
                        "%s got no answer within the read timeout; not sent again, since "
                        "Telegram may have delivered it",
                        endpoint,
                    )
                    raise
                if not is_transient(exc) or attempt >= self.network_retries:
                    raise
                attempt += 1
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning(
                    "%s failed (%s); retry %d of %d in %.2f s",
                    endpoint,
                    exc,
                    attempt,
                    self.network_retries,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if waited:
                self._lifted()
            return result


class FloodVerdict(StrEnum):
    """What the incoming flood guard (``services.FloodGuard``) says of a user's message."""

    OK = "ok"  # under the limit: handle it
    WARN = "warn"  # first one over the limit: send one notice, then stop
    DROP = "drop"  # already warned: stop silently
