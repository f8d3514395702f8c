"""A graceful stop that fails no request: SIGTERM closes the listening socket first, then drains.

uvicorn's own shutdown closes idle keep-alive connections at once, and a client that sent its next
request on one at that moment gets a reset: a failed request. Here every connection is instead
answered once more with ``Connection: close`` (the client then knows not to reuse it; a new
connection finds the door closed and is refused before anything is sent), for at most
``drain_s``; only then does uvicorn's shutdown run (in-flight requests, then the app's lifespan,
which writes the prediction log's queue). The supervisor of several workers closes its copy of
the address too.

Each worker listens on a socket of its own (SO_REUSEPORT; the kernel spreads new connections over
them). Closing a listening socket resets the connections the kernel has completed but nobody has
accepted yet, and their clients have already sent a request: those pile up while a worker's event
loop is busy (70 ms seen on a loaded 2-core machine: two requests failed). Each worker therefore
accepts everything waiting before it lets go of its socket, and answers it like any other
connection during the drain.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from uvicorn.supervisors import multiprocess

from farga.serving.connection_share import Balance, ConnectionShare, make_slots

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
    slots: Path | None = None  # the supervisor's connection slots (connection_share), set before it starts workers

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.slots = DrainingProcess.slots  # on the instance: what a spawned worker gets is what is pickled
        super().__init__(config, sockets)

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve on a listening socket of this worker's own, on the supervisor's address, holding no
        more than its share of the connections."""
        own = [listener_beside(shared) for shared in sockets or []]
        for shared in sockets or []:
            shared.close()
        if self.slots is not None:
            Balance.share = ConnectionShare(self.slots, self.server.server_state.connections)
        super().target(own)


def reuse_port_socket(family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # asyncio does not disable Nagle on connections accepted from a socket it did not make (40 ms
    # stalls); accepted sockets inherit this
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.set_inheritable(True)
    return sock


def listener_beside(shared: socket.socket) -> socket.socket:
    sock = reuse_port_socket(shared.family)
    sock.bind(shared.getsockname())
    return sock


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
    # The supervisor holds the address (bound, never listening: it takes no connection); each worker
    # listens on a socket of its own beside it (SO_REUSEPORT), and the kernel spreads new connections
    # over the workers' sockets. On one shared socket whichever worker woke first took every waiting
    # connection: 8 keep-alive connections were seen split 8:0, 7:1 and 6:2 between two workers, one
    # worker queueing while the other idled. The hash can still split them unevenly, and then the
    # workers even it out themselves (connection_share).
    sock = reuse_port_socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
    sock.bind((config.host, config.port))
    multiprocess.Process = DrainingProcess  # type: ignore[misc]  # the supervisor makes its workers by this name
    with tempfile.TemporaryDirectory(prefix="farga-connections-") as folder:
        DrainingProcess.slots = Path(folder) / "slots"
        make_slots(DrainingProcess.slots, config.workers)
        DrainingMultiprocess(config, sockets=[sock]).run()
