"""The estimate tests' pinned assumptions, and runs of the model on them.

The hand computations pin every assumption to the value written below (not to the shipped defaults),
so a changed default cannot silently re-baseline them. With these values, after `submit` queues a
video at t=0 it sizes the group at +2 s; the group launches +10 s later; the instance runs 45 s later
(billed from then), pulls the image from 30 s after that for 150 s, registers with ECS 90 s after
running; ECS places the daemon task 10 s after registration and it polls 30 s after the image is
there. A video is visible at once (no queue delay). Each agent polls every 15 s from its instance's
registration and sees the queue's counts as they were 60 s earlier (GetQueueAttributes' lag); once its
own workers have been idle (and nothing waited) for ScaleInIdleMinutes, and 122 s have passed since the
last submit, it looks at its workers for 3 s more, kills them 0.05 s after that look, and terminates
its instance 10 s later; shutting-down takes 30 s.
"""

from __future__ import annotations

import dataclasses

from helpers import load_text, seed_text

from ecs_autoscale.estimate import Assumptions, Workload, run

PINNED = Assumptions(
    sqs_metric_delay_s=60,
    sqs_inactive_wakeup_s=0,
    asg_metric_delay_s=60,
    scaling_action_s=10,
    client_action_s=2,
    asg_action_s=10,
    sqs_count_lag_s=60,
    agent_kill_gap_s=0.05,
    terminate_turn_s=2,
    placement_delay_s=10,
    capacity_metric_delay_s=60,
    cp_scale_in_datapoints=15,
    cp_scale_in_fraction=0.5,
    cp_scale_in_interval_s=150,
    instance_pending_s=45,
    instance_boot_s=90,
    docker_ready_s=30,
    image_pull_s=150,
    task_start_s=30,
    instance_shutdown_s=30,
    warm_start_s=30,
    warm_boot_s=45,
)
LAG_300 = dataclasses.replace(PINNED, sqs_count_lag_s=300)
"""GetQueueAttributes lags 'at least 1 minute' (SQS API Reference): five minutes is within what AWS allows."""


def fleet(tmp_path, size: int, **keys):
    return load_text(tmp_path, seed_text(FleetSize=str(size), **{k: str(v) for k, v in keys.items()}))


def ours(config, videos: int, minutes: float, spread: float = 0.0, **kwargs):
    return run(config, Workload(videos, minutes, spread), kwargs.pop("assumptions", PINNED), **kwargs)


def timeline(outcome, kinds=("scale", "capacity", "task")) -> list[tuple[float, str]]:
    return [(round(ev.t, 3), ev.text) for ev in outcome.events if ev.kind in kinds]
