"""Local AWS emulator (moto server + patches) for terraform apply/plan/destroy.

Importing this package is cheap: moto is only imported by `server.py` when the
emulator is actually started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# The discard port: nothing listens there, so a request that would leave the machine fails at once.
CLOSED_PORT_PROXY = "http://127.0.0.1:9"


def sealed_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without anything that could reach a real AWS account or the network:
    no inherited AWS_*, TF_* or ECS_AUTOSCALE_* variable or proxy, no credentials or config file, every
    proxy a closed port except for loopback; then `extra` (e.g. `aws_target.emulator_env(url)`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TF_", "ECS_AUTOSCALE_"))
        and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")
    }
    env.update(
        {
            "HTTP_PROXY": CLOSED_PORT_PROXY,
            "HTTPS_PROXY": CLOSED_PORT_PROXY,
            "NO_PROXY": "127.0.0.1,localhost",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "CHECKPOINT_DISABLE": "1",
        }
    )
    env.update(extra or {})
    return env
