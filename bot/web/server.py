"""uvicorn serving the web application inside the bot's own event loop.

The bot owns the loop and the signals (`bot.app.serve`), as in python-telegram-bot's custom
webhook example: uvicorn's `Server.serve()` runs as one more task beside the inbox, and stops when
told (`should_exit`), after the requests in progress have been answered. uvicorn would otherwise
take SIGINT and SIGTERM for itself (`capture_signals`), so that is switched off here.

uvicorn's access log is off (paths carry personal tokens) and it logs through our handlers
(`log_config=None`). HTTP parsing is h11's: a request that is not HTTP gets a 400 from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The application's signal handlers stop it (`WebServer.stop`), not uvicorn's."""
        yield


class WebServer:
    """The web app on `host:port` (port 0: any free port; `port` then says which)."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server = _Server(
            uvicorn.Config(
                app,
                access_log=False,
                log_config=None,
                http="h11",
                lifespan="off",
                server_header=False,
                timeout_graceful_shutdown=10,
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen (an error here, such as a port in use, is raised) and serve in the background."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="web")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # it failed to start: say why
                raise RuntimeError("the web server stopped before it started")
            await asyncio.sleep(0.01)
        log.info("the web app listens on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
