"""A network outage between a client and the emulator: a TCP relay the test cuts (listener and every open
connection) and later reopens on the same port (test_faults.py, and test_jobs.py's submit through a drop).

Stopping an in-process emulator would not do: its HTTP/1.1 keep-alive connections outlive `stop()`, so
Terraform would carry on through them. The relay also keeps moto's data across the outage, as AWS keeps
resources across a network failure."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit


class Outage:
    """A relay to `upstream_url` on a loopback port; `down()` drops it like a dead endpoint, `up()` brings it
    back on the same port."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname, parts.port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept, self._listener)

    def down(self) -> None:
        """Connections refused from now on, and every open one reset, as when the endpoint dies."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
            threads, self._threads = self._threads, []
        live = [s for s in [listener, *sockets] if s is not None]  # None: already down
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked in accept()/recv()
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout=10)
        for sock in live:
            sock.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.upstream)
            except OSError:
                return
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
