"""Outgoing Bot API calls: Telegram's flood limits, plus retries of transient network faults.

PTB's :class:`AIORateLimiter` keeps the bot under Telegram's limits and waits out a 429
``RetryAfter``. :class:`RetryingRateLimiter` adds a bounded retry, with short exponential
backoff, of requests that timed out or hit a plain network error (connection reset, a
5xx from Telegram), so a blip does not cost a resident their answer.

Never retried: ``BadRequest`` (it subclasses ``NetworkError``, but means our request was
wrong), ``Forbidden`` (the user blocked the bot), ``InvalidToken``, ``Conflict``,
``ChatMigrated``. ``RetryAfter`` is left to :class:`AIORateLimiter`.

A request that timed out may still have reached Telegram, so a retry can, rarely,
deliver a message twice: better than a resident never getting an answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, NetworkError
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

RETRY_AFTER_RETRIES = 3  # 429s waited out per request
NETWORK_RETRIES = 3  # timeouts / network errors retried per request
NETWORK_BACKOFF = 0.25  # seconds before the first retry; doubles each time

JSONResult = bool | dict[str, Any] | list[dict[str, Any]]


def is_transient(error: BaseException) -> bool:
    """A timeout or network fault worth retrying (``TimedOut`` is a ``NetworkError``)."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


class RetryingRateLimiter(AIORateLimiter):
    def __init__(
        self,
        *,
        max_retries: int = RETRY_AFTER_RETRIES,
        network_retries: int = NETWORK_RETRIES,
        backoff: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(max_retries=max_retries, **kwargs)
        if network_retries < 0:
            raise ValueError("network_retries must be >= 0")
        self.network_retries = network_retries
        self.backoff = NETWORK_BACKOFF if backoff is None else backoff

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
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except NetworkError as exc:
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
