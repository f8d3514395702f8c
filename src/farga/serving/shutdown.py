"""A graceful stop that fails no request: SIGTERM closes the listening socket first, then drains.

uvicorn's own shutdown closes idle keep-alive connections at once, and a client that sent its next
request on one at that moment gets a reset: a failed request. Here every connection is instead
answered once more with ``Connection: close`` (the client then knows not to reuse it; a new
connection finds the door closed and is refused before anything is sent), for at most
``drain_s``; only then does uvicorn's shutdown run (in-flight requests, then the app's lifespan,
which writes the prediction log's queue). The supervisor of several workers closes its copy of
the listening socket too, or connections would queue behind it and be reset at its exit.

Closing a listening socket resets the connections the kernel has completed but nobody has accepted
yet, and their clients have already sent a request. Several workers share one socket, so those
pile up while the last open worker's event loop is busy (70 ms seen on a loaded 2-core machine:
two requests failed). Each worker therefore accepts everything waiting before it lets go of the
socket, and answers it like any other connection during the drain.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import uvicorn
from uvicorn.supervisors import multiprocess

DRAINING = threading.Event()  # set in a worker once it is stopping: answers carry Connection: close


class DrainingServer(uvicorn.Server):
    drain_s = 2.0

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        DRAINING.set()
        # our own handle on each listening socket, so that it outlives the server's until the backlog is taken
        listeners = [socket.socket(fileno=os.dup(s.fileno())) for server in self.servers for s in server.sockets]
        for server in self.servers:
            server.close()  # no new connections from here on
        for sock in sockets or []:
            sock.close()
        for listener in listeners:
            await self._take_backlog(listener)
            listener.close()
        deadline = time.monotonic() + self.drain_s
        while self.server_state.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await super().shutdown(sockets)

    async def _take_backlog(self, listener: socket.socket) -> None:
        """Accept the connections waiting on ``listener`` and serve them as uvicorn would."""
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.connect_accepted_socket(self._new_protocol, conn)

    def _new_protocol(self) -> asyncio.Protocol:
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )


class DrainingProcess(multiprocess.Process):
    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class DrainingMultiprocess(multiprocess.Multiprocess):
    """uvicorn's supervisor, whose workers drain, and which lets go of the socket when told to stop."""

    def let_go(self) -> None:
        for sock in self.sockets:
            sock.close()

    def handle_term(self) -> None:
        self.let_go()
        super().handle_term()

    def handle_int(self) -> None:
        self.let_go()
        super().handle_int()


def run(config: uvicorn.Config, drain_s: float) -> None:
    """Serve until SIGTERM/SIGINT, then stop as above; ``config.workers`` processes."""
    DrainingServer.drain_s = drain_s
    if config.workers == 1:
        DrainingServer(config).run()
        return
    sock = config.bind_socket()
    # uvicorn's shared listening socket reaches the workers without its protocol number, so asyncio
    # does not disable Nagle on accepted connections (40 ms stalls); accepted sockets inherit this.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    multiprocess.Process = DrainingProcess  # type: ignore[misc]  # the supervisor makes its workers by this name
    DrainingMultiprocess(config, sockets=[sock]).run()
