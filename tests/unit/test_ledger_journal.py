"""The job ledger at campaign size: a record per message costs the same at the 2,000th video as at the first
(an append to the journal, never a rewrite), a crash loses nothing and tears at most the last line, and
ledgers written by earlier versions (the snapshot alone) still read. No AWS."""

from __future__ import annotations

import json

import pytest

from ecs_autoscale.client.ledger import DONE, QUEUED, SENDING, JobLedger, list_jobs


def entry(attempt: int, n: int = 0) -> dict:
    return {"message_uuid": f"u-{n}-{attempt}", "attempt": attempt, "body": {"video": f"v{n}"}}


def queue(ledger: JobLedger, keys: list[str]) -> None:
    ledger.begin_sends([(k, lambda attempt, k=k: entry(attempt, int(k[1:]))) for k in keys])
    ledger.mark_queued_many([(k, f"m-{k}") for k in keys])


def test_recording_a_message_appends_the_same_few_bytes_whatever_the_job_size(tmp_path):
    ledger = JobLedger.load(tmp_path, "campaign")
    sizes = []
    for start in range(0, 2000, 500):
        queue(ledger, [f"v{n}" for n in range(start, start + 500)])
        sizes.append(ledger.journal.stat().st_size)
    growth = [b - a for a, b in zip([0, *sizes], sizes, strict=False)][1:]
    assert max(growth) - min(growth) < 0.02 * min(growth)  # linear: each 500 videos add as much
    assert not ledger.path.exists()  # no whole-file rewrite while the job is sent
    again = JobLedger.load(tmp_path, "campaign")
    assert len(again.videos) == 2000 and {e["state"] for e in again.videos.values()} == {QUEUED}
    assert again.videos["v1999"]["message_id"] == "m-v1999"


def test_save_writes_todays_snapshot_format_and_drops_the_journal(tmp_path):
    ledger = JobLedger.load(tmp_path, "dive")
    ledger.set_meta(stack_name="S")
    queue(ledger, ["v1", "v2"])
    ledger.save()
    assert not ledger.journal.exists()
    snapshot = json.loads(ledger.path.read_text())
    assert snapshot["format"] == 1 and snapshot["job_name"] == "dive" and snapshot["stack_name"] == "S"
    assert snapshot["videos"]["v2"]["state"] == QUEUED
    assert JobLedger.load(tmp_path, "dive").data == ledger.data


def test_a_ledger_of_the_old_format_reads_and_grows_by_journal(tmp_path):
    old = {
        "format": 1,
        "job_name": "old",
        "stack_name": "S",
        "created_at": "2026-01-01T00:00:00Z",
        "videos": {"a.mov": {**entry(1), "state": QUEUED, "message_id": "m", "history": []}},
    }
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "old.json").write_text(json.dumps(old))
    ledger = JobLedger.load(tmp_path, "old")
    assert ledger.videos["a.mov"]["state"] == QUEUED
    queue(ledger, ["v7"])
    assert json.loads((tmp_path / "jobs" / "old.json").read_text()) == old  # untouched until save
    assert set(JobLedger.load(tmp_path, "old").videos) == {"a.mov", "v7"}
    assert list_jobs(tmp_path) == ["old"]


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_record(tmp_path):
    ledger = JobLedger.load(tmp_path, "dive")
    queue(ledger, ["v1"])
    ledger.begin_send("v2", lambda attempt: entry(attempt, 2))
    with ledger.journal.open("ab") as handle:  # a crash in the middle of an append
        handle.write(b'{"set":"v2","fields":{"state":"que')
    reread = JobLedger.load(tmp_path, "dive")
    assert reread.videos["v2"]["state"] == SENDING  # the send is not known to have happened: re-sent as is
    reread.mark_queued("v2", "m2")
    lines = reread.journal.read_bytes().splitlines()
    assert all(json.loads(line) for line in lines)
    assert JobLedger.load(tmp_path, "dive").videos["v2"]["message_id"] == "m2"


def test_a_crash_between_snapshot_and_journal_removal_loses_and_doubles_nothing(tmp_path):
    ledger = JobLedger.load(tmp_path, "dive")
    queue(ledger, ["v1", "v2"])
    journal = ledger.journal.read_bytes()
    ledger.save()
    ledger.journal.write_bytes(journal)  # as if the process died right after writing the snapshot
    reread = JobLedger.load(tmp_path, "dive")
    assert reread.data == ledger.data


def test_a_journal_left_behind_by_a_crash_never_rolls_a_newer_snapshot_back(tmp_path):
    """The snapshot holds more than the journal (an outcome `status` recorded): replaying the journal's
    put/set records over it would turn DONE back into QUEUED."""
    ledger = JobLedger.load(tmp_path, "dive")
    queue(ledger, ["v1", "v2"])
    journal = ledger.journal.read_bytes()
    ledger.record_outcome("v1", DONE, results="r1", finished_at="2026-01-01T00:10:00Z")
    ledger.save()
    ledger.journal.write_bytes(journal)  # the process died after the snapshot's rename, before the removal
    reread = JobLedger.load(tmp_path, "dive")
    assert reread.videos["v1"]["state"] == DONE and reread.data == ledger.data
    assert list_jobs(tmp_path) == ["dive"]
    # The next run's records go to a new journal (the merged one is not appended to, or they would be
    # skipped with it), and both the outcome and the new send survive the next load.
    queue(reread, ["v3"])
    assert reread.journal.read_bytes()[: len(journal)] != journal
    again = JobLedger.load(tmp_path, "dive")
    assert (again.videos["v1"]["state"], again.videos["v3"]["state"]) == (DONE, QUEUED)
    again.save()
    assert not again.journal.exists() and JobLedger.load(tmp_path, "dive").data == again.data


def test_a_journal_of_an_earlier_version_without_an_id_is_still_replayed(tmp_path):
    ledger = JobLedger.load(tmp_path, "dive")
    queue(ledger, ["v1"])
    ledger.save()
    (tmp_path / "jobs" / "dive.journal").write_text(
        json.dumps({"meta": {"format": 1, "job_name": "dive", "created_at": ledger.data["created_at"]}})
        + "\n"
        + json.dumps({"set": "v1", "fields": {"state": QUEUED, "message_id": "m-later"}})
        + "\n"
    )
    reread = JobLedger.load(tmp_path, "dive")
    assert reread.videos["v1"]["message_id"] == "m-later"
    queue(reread, ["v2"])  # appended to that journal, not started afresh over it
    assert set(JobLedger.load(tmp_path, "dive").videos) == {"v1", "v2"}
    reread.save()
    assert JobLedger.load(tmp_path, "dive").videos["v1"]["message_id"] == "m-later"


def test_a_torn_header_or_a_torn_line_longer_than_the_tail_read_is_cut_whole(tmp_path):
    from ecs_autoscale.client.ledger import TAIL_BYTES

    ledger = JobLedger.load(tmp_path, "dive")
    (tmp_path / "jobs").mkdir()
    ledger.journal.write_bytes(b'{"meta":{"format":1,"job_')  # died while writing the first line
    fresh = JobLedger.load(tmp_path, "dive")
    assert fresh.videos == {} and list_jobs(tmp_path) == []
    queue(fresh, ["v1"])
    assert json.loads(fresh.journal.read_bytes().splitlines()[0])["meta"]["job_name"] == "dive"

    big = {"message_uuid": "u", "attempt": 1, "body": {"video": "v9", "args": "x" * (2 * TAIL_BYTES)}}
    with fresh.journal.open("ab") as handle:  # a long record torn well past the last TAIL_BYTES
        handle.write(json.dumps({"put": "v9", "entry": big}).encode()[: TAIL_BYTES + 100])
    reread = JobLedger.load(tmp_path, "dive")
    queue(reread, ["v2"])
    assert all(json.loads(line) for line in reread.journal.read_bytes().splitlines())
    assert set(JobLedger.load(tmp_path, "dive").videos) == {"v1", "v2"}


def test_a_journal_only_job_is_listed_and_a_retry_keeps_the_history(tmp_path):
    ledger = JobLedger.load(tmp_path, "fresh")
    queue(ledger, ["v1"])
    ledger.record_outcome("v1", "failed", error="boom")
    ledger.save()
    ledger.begin_send("v1", lambda attempt: entry(attempt, 1))
    assert list_jobs(tmp_path) == ["fresh"]
    again = JobLedger.load(tmp_path, "fresh").videos["v1"]
    assert again["attempt"] == 2 and again["state"] == SENDING
    assert [h["state"] for h in again["history"]] == ["failed"]


def test_outcomes_keep_when_the_worker_finished(tmp_path):
    ledger = JobLedger.load(tmp_path, "dive")
    queue(ledger, ["v1"])
    assert ledger.record_outcome("v1", DONE, results="r", finished_at="2026-01-01T00:10:00Z")
    assert not ledger.record_outcome("v1", DONE, results="r")  # nothing new: the time stays
    ledger.save()
    assert JobLedger.load(tmp_path, "dive").videos["v1"]["finished_at"] == "2026-01-01T00:10:00Z"


def test_a_damaged_journal_line_is_one_line_naming_the_file(tmp_path):
    from ecs_autoscale.client import JobsError

    ledger = JobLedger.load(tmp_path, "dive")
    queue(ledger, ["v1"])
    text = ledger.journal.read_text().splitlines()
    ledger.journal.write_text("\n".join([text[0], "not json", *text[1:]]) + "\n")
    with pytest.raises(JobsError, match=r"dive\.journal:2: not a journal record; move the file aside"):
        JobLedger.load(tmp_path, "dive")


def test_the_ledger_is_the_owners_only_whatever_the_umask(tmp_path):
    import os
    import stat

    previous = os.umask(0)
    try:
        ledger = JobLedger.load(tmp_path, "dive")
        queue(ledger, ["v1"])
        journal_mode = stat.S_IMODE(ledger.journal.stat().st_mode)
        ledger.save()
    finally:
        os.umask(previous)
    modes = [stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "jobs", ledger.path)]
    assert (journal_mode, *modes) == (0o600, 0o700, 0o600)
