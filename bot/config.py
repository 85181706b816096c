"""Settings from environment variables, validated once at start.

Every mistake is reported at once, each with the variable's name and what to do,
and the token is never echoed back (not even in a validation error).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.paths import KNOWLEDGE_DIR, ROOT

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_CACHE = ROOT / "data" / "cache"


class ConfigError(Exception):
    """Carries locale keys (with parameters) for each invalid setting."""

    def __init__(self, problems: list[tuple[str, dict[str, str]]]) -> None:
        super().__init__("; ".join(key for key, _ in problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    token: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    db_path: Path = ROOT / "data" / "bot.db"
    knowledge_dir: Path = KNOWLEDGE_DIR
    cache_dir: Path | None = None  # index snapshots (load_settings: data/cache); None: off
    staff_ids: frozenset[int] = frozenset()
    staff_chat_id: int | None = None
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    port: int = 8080
    retention_days: int = 90
    flood_limit: int = 20  # messages per user per minute

    def is_staff(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.staff_ids


def load_settings(env: Mapping[str, str] | None = None, *, need_token: bool = False) -> Settings:
    env = os.environ if env is None else env
    problems: list[tuple[str, dict[str, str]]] = []

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            problems.append(("config.bad_int", {"name": name, "low": str(low), "high": str(high)}))
            return default
        return value

    token = get("TELEGRAM_BOT_TOKEN")
    if need_token and token is None:
        problems.append(("config.no_token", {}))
    elif token is not None and (":" not in token or not token.split(":", 1)[0].isdigit()):
        problems.append(("config.bad_token", {}))

    base_url = get("TELEGRAM_BASE_URL") or DEFAULT_BASE_URL
    if urlparse(base_url).scheme not in ("http", "https"):
        problems.append(("config.bad_url", {"name": "TELEGRAM_BASE_URL"}))

    staff_ids: set[int] = set()
    for part in (get("BOT_STAFF_IDS") or "").split(","):
        part = part.strip()
        if not part:
            continue
        if part.lstrip("-").isdigit():
            staff_ids.add(int(part))
        else:
            problems.append(("config.bad_staff_id", {"value": part[:40]}))

    staff_chat = get("BOT_STAFF_CHAT_ID")
    staff_chat_id = None
    if staff_chat is not None:
        if staff_chat.lstrip("-").isdigit():
            staff_chat_id = int(staff_chat)
        else:
            problems.append(
                ("config.bad_int", {"name": "BOT_STAFF_CHAT_ID", "low": "-∞", "high": "∞"})
            )

    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        problems.append(("config.bad_log_level", {"levels": ", ".join(LOG_LEVELS)}))
        log_level = "INFO"

    webhook_url = get("WEBHOOK_URL")
    if webhook_url and urlparse(webhook_url).scheme != "https":
        problems.append(("config.bad_url", {"name": "WEBHOOK_URL"}))
    webhook_secret = get("WEBHOOK_SECRET")
    if webhook_url and not webhook_secret:
        problems.append(("config.no_webhook_secret", {}))
    if webhook_secret and not all(c.isalnum() or c in "_-" for c in webhook_secret):
        problems.append(("config.bad_webhook_secret", {}))

    knowledge_dir = Path(get("BOT_KNOWLEDGE_DIR") or KNOWLEDGE_DIR)
    cache = get("BOT_CACHE_DIR")  # "off": no snapshots
    settings = Settings(
        token=token,
        base_url=base_url,
        db_path=Path(get("BOT_DB_PATH") or ROOT / "data" / "bot.db"),
        knowledge_dir=knowledge_dir,
        cache_dir=None if cache and cache.lower() == "off" else Path(cache or DEFAULT_CACHE),
        staff_ids=frozenset(staff_ids),
        staff_chat_id=staff_chat_id,
        log_level=log_level,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        port=integer("PORT", 8080, 1, 65535),
        retention_days=integer("BOT_RETENTION_DAYS", 90, 1, 3650),
        flood_limit=integer("BOT_FLOOD_LIMIT", 20, 1, 10_000),
    )
    if problems:
        raise ConfigError(problems)
    return settings


PRIVATE_UMASK = 0o077  # files this process creates: 0600; folders: 0700
_DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def _mine(path: Path) -> bool:
    try:
        return path.stat().st_uid == os.geteuid()
    except OSError:
        return False


def restrict_access(settings: Settings) -> None:
    """Residents' data readable by the bot's own user only.

    From now on every file this process creates is 0600 and every folder 0700
    (umask). What exists already loses group and other access when it is the bot's:
    the database files, the snapshot folder and its files when it sits in the
    database's folder, and the database's folder itself when it holds nothing but the
    bot's files, so a folder shared with anything else (a home, the checkout) is never
    changed. The owner's access is never widened.
    Run it before the bot creates anything; failures to change a mode are ignored.
    """
    os.umask(PRIVATE_UMASK)
    db = settings.db_path
    folder = db.parent
    ours = {db.name + suffix for suffix in _DB_SUFFIXES}
    cache = settings.cache_dir
    for path in (folder / name for name in ours):
        if path.is_file() and _mine(path):
            _private(path)
    if cache is not None and cache.parent == folder and cache.is_dir() and _mine(cache):
        ours.add(cache.name)
        for path in [cache, *cache.rglob("*")]:
            if _mine(path) and not path.is_symlink():
                _private(path)
    if folder.is_dir() and _mine(folder):
        try:
            names = {p.name for p in folder.iterdir()}
        except OSError:
            return
        if names <= ours:
            _private(folder)


def _private(path: Path) -> None:
    """Take away group's and others' access; the owner's stays as it is (a file the
    operator made read-only stays read-only)."""
    try:
        mode = path.stat().st_mode & 0o7777
        if mode & 0o077:
            path.chmod(mode & ~0o077)
    except OSError as exc:
        logging.getLogger(__name__).debug("could not restrict %s: %s", path, exc)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"


class RedactSecrets(logging.Filter):
    """Masks secrets in a log record: its message (arguments filled in), traceback and stack.

    :func:`setup_logging` runs it on every record as the record is created (via the
    log-record factory), so no handler ever sees a secret: ours, a library's, or one
    added later. It works as a handler or logger filter too.
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        self.redact(record)
        return True

    def redact(self, record: logging.LogRecord) -> None:
        if not self.secrets:
            return
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging would print msg and args raw
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when set; exc_info stays for code that inspects it.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)


class RedactingFormatter(logging.Formatter):
    """Replaces secrets anywhere in a formatted record, tracebacks included."""

    def __init__(self, fmt: str, secrets: tuple[str, ...]) -> None:
        super().__init__(fmt)
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


_redactor: RedactSecrets | None = None
_base_factory: Callable[..., logging.LogRecord] | None = None


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    if _redactor is not None:
        _redactor.redact(record)
    return record


def install_redaction(secrets: tuple[str, ...]) -> RedactSecrets:
    """Mask ``secrets`` in every log record from now on (idempotent; replaces the list)."""
    global _redactor, _base_factory
    _redactor = RedactSecrets(secrets)
    current = logging.getLogRecordFactory()
    if current is not _redacting_factory:
        _base_factory = current
        logging.setLogRecordFactory(_redacting_factory)
    return _redactor


def setup_logging(level: str, settings: Settings | None = None) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT)
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    if settings is not None:  # belt and braces: no log line may carry the token or secret
        secrets = (settings.token or "", settings.webhook_secret or "")
        install_redaction(secrets)
        for handler in logging.getLogger().handlers:
            handler.setFormatter(RedactingFormatter(LOG_FORMAT, secrets))
