"""The environment that aims a process at the emulator (`ecs_autoscale.aws_target.emulator_env`); the
emulator itself is tested in tests/emulator/test_emulator.py."""

from __future__ import annotations

from ecs_autoscale.aws_target import emulator_env


def test_emulator_env_uses_an_ip_literal_so_s3_is_path_style():
    assert emulator_env("http://localhost:4566/")["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
