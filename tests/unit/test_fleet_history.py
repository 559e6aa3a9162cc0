"""The instance agents' milestones as `report` reads them (client/fleet_history.py): the instance is the one
the log stream is named after, never what a record says about itself (the contract's Trust)."""

from __future__ import annotations

import json

from ecs_autoscale.client.fleet_history import read_milestones

OWN, OTHER = "i-0123456789abcdef0", "i-0fedcba9876543210"


class Logs:
    """FilterLogEvents' pages as CloudWatch Logs gives them, for one log group."""

    def __init__(self, events: list[tuple[str, object]]) -> None:
        self.events = [
            {"logStreamName": stream, "message": body if isinstance(body, str) else json.dumps(body)}
            for stream, body in events
        ]
        self.asked: dict = {}

    def get_paginator(self, name: str):
        assert name == "filter_log_events"
        return self

    def paginate(self, **params):
        self.asked = params
        return [{"events": self.events[:2]}, {"events": self.events[2:]}]


def record(event: str, t: float, **fields) -> dict:
    return {"event": event, "t": t, "instance_type": "g4dn.xlarge", **fields}


def test_the_stream_names_the_instance_and_a_record_naming_another_is_skipped():
    logs = Logs(
        [
            (f"ecs-autoscale-agent/{OWN}", record("registered", 20.0, instance_id=OWN)),
            (f"ecs-autoscale-agent/{OWN}", record("agent_started", 10.0)),  # no id of its own: the stream's
            # Another instance (same role) writing in this instance's stream, as this one, or as itself:
            (f"ecs-autoscale-agent/{OWN}", record("first_task", 5.0, instance_id=OTHER)),
            (f"ecs-autoscale-agent/{OTHER}", record("leaving", 30.0, instance_id=OWN, videos_cut=7)),
            # Streams that are not an instance's:
            ("ecs-autoscale-agent/not-an-instance", record("first_task", 6.0)),
            (f"ecs-autoscale-agent/{OWN}/extra", record("first_task", 6.0, instance_id=OWN)),
            (f"ecs-autoscale-agent-{OWN}", record("first_task", 6.0, instance_id=OWN)),
            # Not milestones at all: skipped without counting.
            (f"ecs-autoscale-agent/{OWN}", "docker pulled 3 layers"),
            (f"ecs-autoscale-agent/{OWN}", record("idle", "soon")),
            (f"ecs-autoscale-agent/{OWN}", {"t": 3.0}),
        ]
    )
    found, skipped = read_milestones(logs, "/ecs/S", since=1.0, until=2.0)
    assert {iid: [e["event"] for e in events] for iid, events in found.items()} == {
        OWN: ["agent_started", "registered"]  # in time order
    }
    assert skipped == 5
    assert logs.asked == {
        "logGroupName": "/ecs/S",
        "logStreamNamePrefix": "ecs-autoscale-agent/",
        "startTime": 1000,
        "endTime": 2001,
    }
