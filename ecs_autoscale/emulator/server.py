"""Run moto's server with our patches (see patches.py) on loopback."""

from __future__ import annotations

import os
from typing import Callable


def _prepare() -> None:
    # Must be set before moto.iam is imported: loads the AWS-managed policies
    # (arn:aws:iam::aws:policy/...) that our roles attach.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    from . import patches

    patches.apply_all()


def serve(host: str = "127.0.0.1", port: int = 4566) -> None:
    """Run the emulator in the foreground until interrupted (Ctrl-C)."""
    _prepare()
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def start_background(port: int = 0, host: str = "127.0.0.1") -> tuple[str, Callable[[], None]]:
    """Start the emulator in a daemon thread; return (url, stop). port=0 picks a free port."""
    _prepare()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return f"http://{bound_host}:{bound_port}", server.stop
