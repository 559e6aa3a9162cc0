"""Run moto's server, with our patches (patches.py) and the AWS rules it enforces (rules.py), on loopback.

moto is imported inside the functions only: the CLI imports this module lazily,
and `import ecs_autoscale.emulator` must stay cheap.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .request_log import RequestLog


def _make_server(host: str, port: int, log_requests: bool, request_log: RequestLog | None = None) -> Any:
    """A threaded werkzeug server running moto's app on (host, port); port 0 picks a free one.
    With `request_log`, every request is also checked against AWS's service models (request_log.py)."""
    from . import patches, rules

    # The rules first: they replace some of moto's methods (the Auto Scaling group model), which the patches
    # then wrap like moto's own (history.py records the terminations rules' TerminateInstance makes).
    rules.apply_all()
    patches.apply_all()  # also sets MOTO_IAM_LOAD_MANAGED_POLICIES=true before moto creates IAM
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class QuietRequestHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # one line per AWS call drowns test output; errors still reach the client

    # Bind ourselves: werkzeug calls sys.exit(1) when the port is taken; an OSError
    # lets callers (the CLI) explain it.
    app = DomainDispatcherApplication(create_backend_app)
    sock = socket.create_server((host, port))
    try:
        return make_server(
            host,
            port,
            request_log.wrap(app) if request_log is not None else app,
            threaded=True,
            request_handler=MotoRequestHandler if log_requests else QuietRequestHandler,
            fd=sock.fileno(),  # werkzeug duplicates the descriptor
        )
    finally:
        sock.close()


def serve(host: str = "127.0.0.1", port: int = 4566) -> None:
    """Run the emulator in the foreground, logging each request, until Ctrl-C
    (werkzeug swallows the KeyboardInterrupt: this then returns normally).
    Raises OSError when the port cannot be bound."""
    server = _make_server(host, port, log_requests=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def start_background(
    port: int = 0, host: str = "127.0.0.1", request_log: RequestLog | None = None
) -> tuple[str, Callable[[], None]]:
    """Start the emulator in a daemon thread; return (url, stop). port=0 picks a free port."""
    server = _make_server(host, port, log_requests=False, request_log=request_log)
    thread = threading.Thread(target=server.serve_forever, name="aws-emulator", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return f"http://{host}:{server.port}", stop
