"""The real ``python -m bot run`` as a child process, as in production, for the
end-to-end and crash tests (``tests/conftest.py`` has the ``stub`` and
``knowledge_dir`` fixtures they run it with)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.botapi_stub import BotApiStub
from tests.support.harness import STAFF_ID

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0  # imports (wordfreq, matplotlib) on a slow CI box
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environ() -> dict[str, str]:
    """The test runner's environment minus anything that configures the bot."""
    prefixes = ("TELEGRAM_", "WEBHOOK_", "BOT_", "LOG_LEVEL", "PORT")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@dataclass
class BotProcess:
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    db_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> tuple[int, float]:
        """SIGTERM, as a process manager would; the exit code and how long it took."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=STOP_TIMEOUT)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)


def start_bot(
    stub: BotApiStub,
    tmp_path: Path,
    knowledge_dir: Path,
    *,
    prefix: Sequence[str] = (),
    **extra: str,
) -> BotProcess:
    """Start the bot; ``extra`` are environment variables (``BOT_DB_PATH`` moves the
    database), ``prefix`` a command the bot runs under (e.g. ``setpriv ...``)."""
    db_path = Path(extra["BOT_DB_PATH"]) if "BOT_DB_PATH" in extra else tmp_path / "data" / "bot.db"
    env = {
        **clean_environ(),
        **stub.env(),
        "BOT_DB_PATH": str(db_path),
        "BOT_CACHE_DIR": str(db_path.parent / "cache"),
        "BOT_STAFF_IDS": str(STAFF_ID),
        "BOT_KNOWLEDGE_DIR": str(knowledge_dir),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    stderr_path = tmp_path / f"bot-stderr-{len(list(tmp_path.glob('bot-stderr-*')))}.log"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return BotProcess(proc, stderr_path, db_path)
