"""What the end-to-end benchmark needs of Telegram: text updates as Telegram sends them,
and a request object that answers like a healthy Bot API without a network.

Kept apart from the tests' richer doubles (``tests/support``): the benchmark never
imports the test suite.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT_USER: dict[str, Any] = {  # what getMe answers
    "id": 1,
    "is_bot": True,
    "first_name": "Tanya Balikpapan",
    "username": "TanyaBalikpapanBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}
_BOT_SENDER = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}
_ids = itertools.count(1)


def text_update(text: str, *, user_id: int, first_name: str) -> dict[str, Any]:
    """A private-chat text ``message`` update; a leading ``/command`` gets its entity."""
    user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "id"}
    message: dict[str, Any] = {
        "message_id": next(_ids),
        "from": user,
        "chat": {"id": user_id, "type": "private", "first_name": first_name},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]  # entity lengths are in UTF-16 code units
        length = len(command.encode("utf-16-le")) // 2
        message["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
    return {"update_id": next(_ids), "message": message}


class HealthyBotApi(BaseRequest):
    """Answers every Bot API call as a healthy server would; counts calls per method."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

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
        api_method = url.rsplit("/", 1)[-1]
        self.calls[api_method] += 1
        params = request_data.parameters if request_data else {}
        return 200, json.dumps({"ok": True, "result": _result(api_method, params)}).encode()


def _result(method: str, params: dict[str, Any]) -> Any:
    name = method.lower()
    if name == "getme":
        return BOT_USER
    if name.startswith(("send", "edit")) and name != "sendchataction":
        chat_id = params.get("chat_id")
        message: dict[str, Any] = {
            "message_id": params.get("message_id") or next(_ids),
            "from": _BOT_SENDER,
            "chat": {"id": chat_id if isinstance(chat_id, int) else 0, "type": "private"},
            "date": int(time.time()),
        }
        if isinstance(params.get("text"), str):
            message["text"] = params["text"]
        return message
    return True
