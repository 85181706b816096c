"""Pytest fixtures for the test doubles. Re-export from ``tests/conftest.py``::

from tests.support.fixtures import botapi_stub, recording_app, recording_request  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from telegram.ext import Application

from tests.support.botapi_stub import BotApiStub
from tests.support.recording import RecordingRequest, build_application


@pytest.fixture
def botapi_stub() -> Iterator[BotApiStub]:
    """A started :class:`BotApiStub` on a random port, closed after the test."""
    with BotApiStub() as stub:
        yield stub


@pytest.fixture
def recording_request() -> RecordingRequest:
    """A fresh in-memory transport; inspect it after driving ``recording_app``."""
    return RecordingRequest()


@pytest_asyncio.fixture
async def recording_app(
    recording_request: RecordingRequest,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """An *initialized* Application on ``recording_request`` (getMe already recorded).

    Add handlers, then ``await process(app, make_text_update(...))``. Shut down afterwards.
    """
    app = build_application(recording_request)
    await app.initialize()
    try:
        yield app
    finally:
        await app.shutdown()
