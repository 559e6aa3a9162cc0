"""TEMPORARY stub until the instance agent lands (branch `agent`): same interface."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Optional


@dataclass(frozen=True)
class AgentSettings:
    region: str
    stack_name: str
    cluster_name: str
    asg_name: str
    queue_name: str
    topic_name: str
    task_families: tuple[str, ...]
    image: str
    ecr_registry: Optional[str] = None
    poll_seconds: int = 15
    idle_seconds: int = 300
    crash_loop_exits: int = 3
    register_timeout_seconds: int = 600
    lifecycle_hook_name: Optional[str] = None
    endpoint_url: Optional[str] = None


def render_user_data(settings: AgentSettings, *, ecs_config: dict) -> str:
    lines = "\n".join(f"{k}={v}" for k, v in ecs_config.items())
    return f"#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'X'\n{lines}\nX\n# agent: {json.dumps(asdict(settings), sort_keys=True)}\n"


def agent_permissions(*args, **kwargs) -> list:
    return []
