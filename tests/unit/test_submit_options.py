"""What deepsea-ai users have on uploads, without AWS: --exclude, S3 object tags, the bandwidth cap, network
retries, deepsea-ai's message body and user name, and reading deepsea-ai's job cache into the ledger.
The same features against the emulator are in test_jobs.py (submit options) and test_deepsea_ai.py."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest


# ---- --exclude ------------------------------------------------------------------------------------------
def test_exclude_drops_paths_under_the_folder_containing_the_text(tmp_path):
    from ecs_autoscale.client.uploads import collect_videos

    for rel in ("a.mov", "a_proxy.mov", "tmp/b.mov", "keep/c.mp4", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    skipped: list[Path] = []
    videos, ignored = collect_videos([tmp_path], ("_proxy", "tmp/"), skipped)
    assert sorted(v.path.relative_to(tmp_path).as_posix() for v in videos) == ["a.mov", "keep/c.mp4"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in skipped) == ["a_proxy.mov", "tmp/b.mov"]
    assert [p.name for p in ignored] == ["notes.txt"]
    # A file named explicitly is matched on its name only (the folders above it are not "under" it).
    skipped.clear()
    assert collect_videos([tmp_path / "a_proxy.mov"], ("_proxy",), skipped)[0] == [] and len(skipped) == 1
    assert len(collect_videos([tmp_path / "tmp" / "b.mov"], ("tmp/",))[0]) == 1


def test_plan_counts_excluded_videos_and_says_so_when_none_is_left(tmp_path):
    from ecs_autoscale.client import JobsError
    from ecs_autoscale.client.submit import plan_submission

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x_proxy.mov").write_bytes(b"x")
    with pytest.raises(JobsError, match="1 excluded by --exclude"):
        plan_submission(tmp_path / "stack", [tmp_path / "in"], "job", False, ("_proxy",))


# ---- tags -------------------------------------------------------------------------------------------------
DEEPSEA_INI = """[aws]
account_id = 123
[tags]
organization = mbari
project_number = 902005
stage = prod
application = detection
"""


def test_tags_from_a_deepsea_ai_config_are_its_seven_tags(tmp_path):
    from ecs_autoscale.client.object_tags import check_tags, deepsea_config_tags

    ini = tmp_path / "config.ini"
    ini.write_text(DEEPSEA_INI)
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    tags = deepsea_config_tags(ini, "alice", "Video uploaded from /Volumes/M3/dive (1) by user alice", now)
    assert tags == {
        "mbari:project-number": "902005",
        "mbari:owner": "alice",
        "mbari:description": "Video uploaded from /Volumes/M3/dive _1_ by user alice",  # S3 refuses ( )
        "mbari:stage": "prod",
        "mbari:application": "detection",
        "mbari:deletion-date": "20260402T030405Z",
        "mbari:created-by": "alice",
    }
    assert check_tags(tags) == tags


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[tags]\norganization = x\n", "lacks project_number, stage, application"),
        ("[aws]\nx = 1\n", r"no \[tags\] section"),
        ("not an ini", "unreadable"),
    ],
)
def test_a_bad_tags_config_is_one_line_naming_the_file(tmp_path, text, problem):
    from ecs_autoscale.client import JobsError
    from ecs_autoscale.client.object_tags import deepsea_config_tags

    ini = tmp_path / "config.ini"
    ini.write_text(text)
    with pytest.raises(JobsError, match=problem) as err:
        deepsea_config_tags(ini, "u", "d")
    assert str(ini) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (["novalue"], "write KEY=VALUE"),
        (["aws:owner=me"], "not a legal S3 tag key"),
        (["k=a|b"], "value S3 refuses"),
        ([f"k{i}=v" for i in range(11)], "11 tags, S3 allows 10"),
    ],
)
def test_bad_tags_are_refused_before_any_upload(values, problem):
    from ecs_autoscale.client import JobsError
    from ecs_autoscale.client.object_tags import check_tags, parse_tag_options

    with pytest.raises(JobsError, match=problem):
        check_tags(parse_tag_options(values))


def test_upload_tagging_is_url_encoded():
    from ecs_autoscale.client.object_tags import upload_tagging

    assert upload_tagging({"mbari:owner": "a b", "x": "1/2"}) == "mbari%3Aowner=a+b&x=1%2F2"
    assert upload_tagging({}) is None


# ---- bandwidth ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20", 20_000_000),
        ("20MB/s", 20_000_000),
        ("500KB/s", 500_000),
        ("1.5GB/s", 1_500_000_000),
        ("100Mbit/s", 12_500_000),
        ("64MiB/s", 64 * 1024 * 1024),
        ("800 kbit/s", 100_000),
        ("2 mb", 2_000_000),
    ],
)
def test_upload_rate_parses_units(text, rate):
    from ecs_autoscale.client.uploads import parse_rate

    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "10 parsecs", "0", "0.5KB/s", "-3MB/s"])
def test_upload_rate_refuses_nonsense(text):
    from ecs_autoscale.client.uploads import parse_rate

    with pytest.raises(ValueError):
        parse_rate(text)


def test_the_cap_reaches_the_transfer_manager():
    from ecs_autoscale.client.uploads import transfer_config

    assert transfer_config(64, 1_000_000).max_bandwidth == 1_000_000
    assert transfer_config(64).max_bandwidth is None


# ---- network retries ---------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def flaky(failures: list[BaseException], result="ok"):
    calls = []

    def action():
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return action, calls


def test_network_failures_are_retried_with_growing_waits_until_they_pass():
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

    from ecs_autoscale.client.network_retry import NetworkRetry

    clock, lines = FakeClock(), []
    action, calls = flaky(
        [
            EndpointConnectionError(endpoint_url="http://x"),
            ConnectionClosedError(endpoint_url="x"),
            ConnectionResetError(),
        ]
    )
    retry = NetworkRetry(minutes=30, sleep=clock.sleep, clock=clock, echo=lines.append)
    rewinds = []
    assert retry.run("uploading a.mov", action, on_retry=lambda: rewinds.append(1)) == "ok"
    assert len(calls) == 4 and clock.slept == [5, 10, 20] and len(rewinds) == 3
    assert "network problem while uploading a.mov (EndpointConnectionError); retrying in 5 s" in lines[0]


def test_answers_from_aws_are_not_retried():
    from botocore.exceptions import ClientError

    from ecs_autoscale.client.network_retry import NetworkRetry

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
    action, calls = flaky([denied])
    with pytest.raises(ClientError):
        NetworkRetry(sleep=lambda s: None).run("x", action)
    assert len(calls) == 1


def test_retries_stop_at_the_deadline_and_sends_stay_inside_the_dedup_window():
    from botocore.exceptions import EndpointConnectionError

    from ecs_autoscale.client.network_retry import SEND_WINDOW_SECONDS, NetworkRetry

    clock = FakeClock()
    down = [EndpointConnectionError(endpoint_url="x") for _ in range(100)]
    action, calls = flaky(down)
    with pytest.raises(EndpointConnectionError):
        NetworkRetry(minutes=30, sleep=clock.sleep, clock=clock).run(
            "queueing", action, window_seconds=SEND_WINDOW_SECONDS
        )
    assert clock.now == SEND_WINDOW_SECONDS < 300  # SQS drops a repeated send only within 5 minutes
    clock2 = FakeClock()
    with pytest.raises(EndpointConnectionError):
        NetworkRetry(minutes=0, sleep=clock2.sleep, clock=clock2).run(
            "x", flaky([EndpointConnectionError(endpoint_url="x")])[0]
        )
    assert clock2.slept == []


def test_a_wrapped_connection_failure_counts_as_network():
    from botocore.exceptions import ReadTimeoutError

    from ecs_autoscale.client.network_retry import is_network_error

    class S3UploadFailedError(Exception):
        pass

    try:
        try:
            raise ReadTimeoutError(endpoint_url="x")
        except ReadTimeoutError as inner:
            raise S3UploadFailedError("Failed to upload a.mov") from inner
    except S3UploadFailedError as outer:
        assert is_network_error(outer)
    assert not is_network_error(ValueError("bad"))


# ---- deepsea-ai's body and user name ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arn", "user"),
    [
        ("arn:aws:iam::123456789012:user/alice", "alice"),
        ("arn:aws:sts::123456789012:assumed-role/Dev/bob@mbari.org", "bob"),
        ("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root"),  # deepsea-ai keeps it whole
    ],
)
def test_user_name_is_cut_like_deepsea_ai(arn, user):
    from ecs_autoscale.client.messages import user_name_of

    assert user_name_of(arn) == user


def test_body_has_deepsea_ais_fields_order_and_indent_and_args_only_when_given():
    from ecs_autoscale.client.messages import encode_body, job_body

    body = job_body("M3/a.mov", "dive", False, "alice", "", "u-1")
    assert list(body) == ["video", "clean", "user_name", "metadata_b64", "job_name"]
    assert json.loads(base64.b64decode(body["metadata_b64"])) == {"message_uuid": "u-1"}
    assert encode_body(body).startswith('{\n    "video": "M3/a.mov",\n    "clean": "False",')
    with_args = job_body("M3/a.mov", "dive", True, "alice", '"--conf 0.3"', "u-1")
    assert with_args["args"] == "--conf 0.3" and with_args["clean"] == "True" and list(with_args)[-1] == "args"


# ---- deepsea-ai's job cache ---------------------------------------------------------------------------------
def make_cache(folder: Path, rows: list[tuple]) -> Path:
    """A job cache as deepsea-ai 1.25's SQLAlchemy models create it; rows: (job, engine, video, status, uuid,
    created, updated)."""
    path = folder / "sqlite_job_cache_548531997526.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, engine VARCHAR "
            "NOT NULL, job_type VARCHAR NOT NULL, createdAt TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS media (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, status VARCHAR "
            "NOT NULL, metadata_b64 VARCHAR, createdAt TIMESTAMP NOT NULL, updatedAt TIMESTAMP, job_id INTEGER "
            "REFERENCES job (id) ON DELETE CASCADE)"
        )
        for job, engine, video, status, uuid, created, updated in rows:
            found = db.execute("SELECT id FROM job WHERE name = ? AND engine = ?", (job, engine)).fetchone()
            job_id = (
                found[0]
                if found
                else db.execute(
                    "INSERT INTO job (name, engine, job_type) VALUES (?, ?, 'ECS')", (job, engine)
                ).lastrowid
            )
            meta = base64.b64encode(json.dumps({"message_uuid": uuid}).encode()).decode()
            db.execute(
                "INSERT INTO media (name, status, metadata_b64, createdAt, updatedAt, job_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (video, status, meta, created, updated, job_id),
            )
    return path


def test_cached_videos_of_this_stack_become_ledger_entries(tmp_path):
    from ecs_autoscale.client.deepsea_cache import DeepseaCache, merge_into_ledger
    from ecs_autoscale.client.ledger import JobLedger

    cache = make_cache(
        tmp_path,
        [
            ("dive", "Megadetector", "M3/a.mov", "QUEUED", "u-a", "2026-03-01 10:00:00", "2026-03-01 10:00:01.5"),
            ("dive", "Megadetector", "M3/b.mov", "SUCCESS", "u-b", "2026-03-01 10:00:00", None),
            ("dive", "Megadetector", "M3/c.mov", "FAILED", "u-c", "2026-03-01 10:00:00", None),
            ("dive", "OtherStack", "M3/d.mov", "QUEUED", "u-d", "2026-03-01 10:00:00", None),
        ],
    )
    videos = DeepseaCache((cache,)).videos("Megadetector")
    assert [(v.key, v.status, v.message_uuid) for v in videos] == [
        ("M3/a.mov", "QUEUED", "u-a"),
        ("M3/b.mov", "SUCCESS", "u-b"),
        ("M3/c.mov", "FAILED", "u-c"),
    ]
    assert videos[0].queued_at == datetime(2026, 3, 1, 10, 0, 1, 500000, tzinfo=timezone.utc)
    assert merge_into_ledger(tmp_path / "stack", "Megadetector", "dive", videos)
    entries = JobLedger.load(tmp_path / "stack", "dive").videos
    assert {k: (e["state"], e["results"], e["origin"]) for k, e in entries.items()} == {
        "M3/a.mov": ("queued", None, "deepsea-ai"),
        "M3/b.mov": ("done", "M3/b.tracks.tar.gz", "deepsea-ai"),
        "M3/c.mov": ("failed", None, "deepsea-ai"),
    }
    assert entries["M3/a.mov"]["sent_at"] == "2026-03-01T10:00:01Z"
    assert not merge_into_ledger(tmp_path / "stack", "Megadetector", "dive", videos)  # idempotent


def test_our_own_entries_win_but_take_an_outcome_the_cache_holds_for_the_same_message(tmp_path):
    from ecs_autoscale.client.deepsea_cache import DeepseaCache, merge_into_ledger
    from ecs_autoscale.client.ledger import JobLedger

    ledger = JobLedger.load(tmp_path, "dive")
    for key, uuid in (("M3/ours.mov", "u-1"), ("M3/other.mov", "u-2")):
        ledger.begin_send(key, lambda attempt, uuid=uuid: {"message_uuid": uuid, "attempt": attempt})
        ledger.mark_queued(key, "m")
    cache = make_cache(
        tmp_path,
        [
            ("dive", "S", "M3/ours.mov", "FAILED", "u-1", "2026-03-01 10:00:00", None),  # monitor saw our failure
            ("dive", "S", "M3/other.mov", "QUEUED", "u-9", "2026-03-01 10:00:00", None),  # deepsea-ai sent it too
        ],
    )
    merge_into_ledger(tmp_path, "S", "dive", DeepseaCache((cache,)).videos("S"))
    entries = JobLedger.load(tmp_path, "dive").videos
    assert entries["M3/ours.mov"]["state"] == "failed" and "deepsea-ai's job cache" in entries["M3/ours.mov"]["error"]
    assert entries["M3/other.mov"]["message_uuid"] == "u-2" and "origin" not in entries["M3/other.mov"]


def test_a_named_cache_that_is_not_one_is_one_line_and_a_found_one_is_skipped(tmp_path, monkeypatch):
    from ecs_autoscale.client import JobsError
    from ecs_autoscale.client.deepsea_cache import DeepseaCache

    junk = tmp_path / "sqlite_job_cache_1.db"
    junk.write_text("not sqlite")
    with pytest.raises(JobsError, match="not a readable deepsea-ai job cache"):
        DeepseaCache((junk,)).videos("S")
    with pytest.raises(JobsError, match="no deepsea-ai job cache there"):
        DeepseaCache((tmp_path / "missing",)).files()
    monkeypatch.chdir(tmp_path)
    assert DeepseaCache().files() == [junk] and DeepseaCache().videos("S") == []
    assert DeepseaCache.from_option(f"{tmp_path}:{junk}").locations == (tmp_path, junk)


def test_the_tags_config_also_tells_where_deepsea_ai_keeps_its_job_cache(tmp_path, monkeypatch):
    """deepsea-ai writes sqlite_job_cache_*.db under its config's [database] job_db_path (relative to
    the folder it runs in): `submit --tags-from` with that config finds the jobs ecsprocess queued even
    when run from another folder."""
    from ecs_autoscale.client.deepsea_cache import DeepseaCache

    here, caches = tmp_path / "here", tmp_path / "deepsea-jobs"
    here.mkdir()
    caches.mkdir()
    cache = caches / "sqlite_job_cache_123456789012.db"
    cache.write_bytes(b"")
    config = tmp_path / "config.ini"
    config.write_text("[database]\njob_db_path = ../deepsea-jobs\n[tags]\norganization = mbari\n")
    monkeypatch.chdir(here)
    found = DeepseaCache().with_config(config)
    assert found.locations == (here.resolve(), caches.resolve()) and found.files() == [cache]
    assert DeepseaCache().files() == []  # without the config: only the current folder
    named = DeepseaCache((here,))
    assert named.with_config(config) is named  # --deepsea-db wins
    config.write_text("[database]\njob_db_path = ../nowhere\n")
    assert DeepseaCache().with_config(config).locations == ()
    assert DeepseaCache().with_config(None).locations == ()
