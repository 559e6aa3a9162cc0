"""What a job is made of, without AWS: the video keys deepsea-ai gives, which files are videos, the
message group id, ledger file names, and the stack's outputs as the client reads them. Jobs against a
deployed stack: tests/emulator/test_jobs.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.jobs import NO_MARKER_CASES, VIDEO_KEY_CASES


@pytest.mark.parametrize("path, key", VIDEO_KEY_CASES + NO_MARKER_CASES)
def test_video_key_is_deepsea_ais_key(path, key):
    from ecs_autoscale.client.uploads import video_key

    assert video_key(Path(path)) == key


def test_collect_videos_takes_every_accepted_suffix_in_any_case_and_skips_the_rest(tmp_path):
    from ecs_autoscale.client import JobsError
    from ecs_autoscale.client.uploads import collect_videos

    names = ["a.mov", "b.AVI", "c.Mp4", "d.mpg", "e.mpeg", "f.m4v", "g.WMV", "sub/h.mkv"]
    for name in names + ["notes.txt", "clip.mov.json", ".hidden/x.mov", "._a.mov"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    videos, ignored = collect_videos([tmp_path])
    assert sorted(v.path.relative_to(tmp_path).as_posix() for v in videos) == sorted(names)
    assert sorted(p.name for p in ignored) == ["clip.mov.json", "notes.txt"]
    with pytest.raises(JobsError, match=r"notes\.txt: not a video"):
        collect_videos([tmp_path / "notes.txt"])
    with pytest.raises(JobsError, match="not found"):
        collect_videos([tmp_path / "missing"])


def test_two_files_with_one_key_are_refused(tmp_path):
    from ecs_autoscale.client import JobsError
    from ecs_autoscale.client.uploads import collect_videos

    for root in ("Volumes", "mnt"):
        (tmp_path / root / "dive").mkdir(parents=True)
        (tmp_path / root / "dive" / "clip.mov").write_bytes(b"x")
    with pytest.raises(JobsError, match="would both upload to video key 'dive/clip.mov'"):
        collect_videos([tmp_path / "Volumes", tmp_path / "mnt"])


def test_message_group_id_is_timestamp_and_name_within_sqs_rules():
    from datetime import datetime, timezone

    from ecs_autoscale.client.messages import message_group_id

    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    assert message_group_id("clip.mov", now) == "20260304T050607-clip.mov"
    odd = message_group_id("plongée n°1 " + "x" * 200 + ".mov", now)
    assert len(odd) == 128 and re.fullmatch(r"[\x21-\x7e]+", odd)


def test_ledger_file_names_are_safe_and_distinct():
    from ecs_autoscale.stack_dir import job_file_name as ledger_file_name

    assert ledger_file_name("dive-1234") == "dive-1234.json"
    spaced, other = ledger_file_name("DocRicketts dive 1423"), ledger_file_name("DocRicketts/dive/1423")
    assert spaced != other and "/" not in spaced + other and spaced.startswith("DocRicketts-dive-1423-")


OUTPUTS = {  # as `ecs-autoscale deploy` writes them: numbers stay numbers, service_names is comma-separated
    "stack_name": "S",
    "region": "us-west-2",
    "video_queue_name": "S-video.fifo",
    "video_queue_url": "u1",
    "track_queue_name": "S-track.fifo",
    "track_queue_url": "u2",
    "dead_queue_name": "S-dead.fifo",
    "dead_queue_url": "u3",
    "video_bucket": "s-video-1",
    "tracks_bucket": "s-tracks-1",
    "cluster_name": "S",
    "service_name": "S",
    "autoscaling_group_name": "S-gpu-fleet",
    "task_definition_family": "fam",
    "service_names": "S,S-gpu2",
    "tasks_per_instance": 2,
    "fleet_size": 3,
    "alerts_topic_arn": "arn:aws:sns:us-west-2:123456789012:S-alerts",
    "capacity_provider_name": "",
}


def test_outputs_are_read_flat_or_in_terraform_output_json_shape(tmp_path):
    from ecs_autoscale.client import JobsError
    from ecs_autoscale.client.stack_info import load_stack_info

    (tmp_path / "outputs.json").write_text(json.dumps({k: {"value": v, "type": "string"} for k, v in OUTPUTS.items()}))
    info = load_stack_info(tmp_path)
    assert (info.services, info.tasks_per_instance, info.fleet_size) == (("S", "S-gpu2"), 2, 3)
    assert info.video_queue_url == "u1" and info.alerts_topic_arn.endswith(":S-alerts")
    (tmp_path / "outputs.json").write_text(json.dumps(OUTPUTS))
    assert load_stack_info(tmp_path) == info
    (tmp_path / "outputs.json").write_text(json.dumps({**OUTPUTS, "video_queue_url": None}))
    with pytest.raises(JobsError, match="outputs.json: missing video_queue_url .*ecs-autoscale outputs"):
        load_stack_info(tmp_path)
    (tmp_path / "outputs.json").write_text(json.dumps({**OUTPUTS, "tasks_per_instance": "two"}))
    with pytest.raises(JobsError, match="tasks_per_instance = 'two' is not what the stack writes"):
        load_stack_info(tmp_path)


def test_outputs_of_a_stack_deployed_before_group_sizing_get_safe_defaults(tmp_path):
    from ecs_autoscale.client.stack_info import load_stack_info

    old = {
        k: v
        for k, v in OUTPUTS.items()
        if k not in ("service_names", "tasks_per_instance", "fleet_size", "alerts_topic_arn")
    }
    (tmp_path / "outputs.json").write_text(json.dumps(old))
    info = load_stack_info(tmp_path)
    # One task per instance, the one service; FleetSize is read from the group when `resume` needs it.
    assert (info.services, info.tasks_per_instance, info.fleet_size) == (("S",), 1, None)
    assert [info.instances_for(n, 3) for n in (0, 1, 2, 3, 9)] == [0, 1, 2, 3, 3]
