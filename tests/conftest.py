"""Shared fixtures for tests that run real Terraform and the `ecs-autoscale` CLI against the emulator.

emulator            (session) URL of the moto-based AWS emulator, started in this process on a free
                    loopback port. moto keeps ONE in-memory account per process, so everything deployed
                    in a session is visible to every later test: give each deployment its own StackName
                    (e.g. `helpers.seed_text(StackName="MyTestStack")`) unless a test owns the seed on purpose.
aws_requests        (session) the emulator's RequestLog (ecs_autoscale/emulator/request_log.py): every
                    request Terraform, the CLI or a test sends is checked against botocore's service
                    model. Any request AWS would reject fails the test that was running (at its teardown;
                    module fixtures' requests count for the test in whose setup/teardown they ran), and
                    whatever is left fails the session's last test.
provider_mirror_dir (session) folder holding hashicorp/aws 5.100.0 ($ECS_AUTOSCALE_PROVIDER_MIRROR or
                    /opt/tf-plugins); missing is a failure, never a skip.
cli_env             (session) environment for a CLI subprocess aimed at the emulator: no AWS_*, TF_* or
                    ECS_AUTOSCALE_* variable of the machine, no credentials file, proxies on a closed port
                    (so an accidental download fails fast; loopback is exempt), then
                    ECS_AUTOSCALE_ENDPOINT_URL and ECS_AUTOSCALE_PROVIDER_MIRROR set.
ecs_cli             (session) `ecs_cli(*args, env=None, check=True, timeout=900)` runs `ecs-autoscale ARGS`
                    with cli_env (plus `env`), returns CompletedProcess (text); check=True fails the test
                    with the command, exit code, stdout and stderr when the exit code is not 0.
aws_client          (session) `aws_client(service, region="us-west-2")`: a boto3 client on the emulator.
terraform_cli       (session) `terraform_cli(args, cwd, env, ok_codes=(0,))`: real terraform (helpers.terraform);
                    missing terraform or mirror fails. Requesting it makes a test `slow`.
installed_cli       (session) the installed `ecs-autoscale` entry point, for tests that run it as processes in
                    bulk outside the emulator. Requesting it makes a test `slow`.
open_umask          (function) the process's umask set to 0 for the test: what must be private cannot rely on
                    the user's.

Markers and folders follow from these fixtures (tests/support/tiers.py): a test that requests `emulator`,
directly or through another fixture, is marked `emulator` and lives in tests/emulator/; one that requests
`terraform_cli` or `installed_cli` is `slow` and lives in tests/slow/; the rest live in tests/unit/.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from helpers import CLI, TESTS, provider_mirror, terraform, terraform_binary
from support.tiers import mark_and_place

from ecs_autoscale.emulator import sealed_env


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(config, items):
    mark_and_place(items, TESTS)


@pytest.fixture(scope="session")
def aws_requests():
    from ecs_autoscale.emulator.request_log import RequestLog

    return RequestLog()


@pytest.fixture(scope="session")
def emulator(aws_requests) -> Iterator[str]:
    from ecs_autoscale.emulator.request_log import report
    from ecs_autoscale.emulator.server import start_background

    # One INFO line per request would bury a failing test's own log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    url, stop = start_background(port=0, request_log=aws_requests)
    try:
        yield url
    finally:
        stop()
        _REQUEST_TOTALS.append(aws_requests.totals())
    left = aws_requests.take_unreported()
    if left:
        pytest.fail(report(left), pytrace=False)


# What the emulators of this run checked, summed in one line at the end (xdist: from every worker).
_REQUEST_TOTALS: list[dict] = []


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the totals to the controller
        workeroutput["aws_request_totals"] = list(_REQUEST_TOTALS)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook
def pytest_testnodedown(node, error):
    _REQUEST_TOTALS.extend(getattr(node, "workeroutput", {}).get("aws_request_totals", []))


def pytest_terminal_summary(terminalreporter):
    if _REQUEST_TOTALS:
        from ecs_autoscale.emulator.request_log import summary

        terminalreporter.write_line(summary(_REQUEST_TOTALS))


@pytest.fixture(autouse=True)
def aws_would_accept_every_request(request):
    """Fails a test (at teardown) that made the emulator see a request AWS's model rejects."""
    yield
    if "emulator" in request.fixturenames:
        from ecs_autoscale.emulator.request_log import report

        rejected = request.getfixturevalue("aws_requests").take_unreported()
        if rejected:
            pytest.fail(report(rejected), pytrace=False)


@pytest.fixture(scope="session")
def provider_mirror_dir() -> Path:
    return provider_mirror()


@pytest.fixture(scope="session")
def cli_env(emulator: str, provider_mirror_dir: Path) -> dict[str, str]:
    return sealed_env(
        {"ECS_AUTOSCALE_ENDPOINT_URL": emulator, "ECS_AUTOSCALE_PROVIDER_MIRROR": str(provider_mirror_dir)}
    )


@pytest.fixture(scope="session")
def ecs_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    def run(
        *args: object, env: Mapping[str, str] | None = None, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess:
        command = [str(CLI), *map(str, args)]
        proc = subprocess.run(
            command,
            env={**cli_env, **(env or {})},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"`ecs-autoscale {' '.join(command[1:])}` exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}",
                pytrace=False,
            )
        return proc

    return run


@pytest.fixture(scope="session")
def aws_client(emulator: str) -> Callable[..., object]:
    from ecs_autoscale.aws_target import AwsTarget

    target = AwsTarget(endpoint_url=emulator)

    def client(service: str, region: str = "us-west-2"):
        return target.client(service, region)

    return client


@pytest.fixture(scope="session")
def terraform_cli(provider_mirror_dir: Path) -> Callable[..., subprocess.CompletedProcess]:
    terraform_binary()  # fails clearly when terraform is missing
    return terraform


@pytest.fixture(scope="session")
def installed_cli() -> Path:
    assert CLI.is_file(), f"the ecs-autoscale entry point is not installed next to {sys.executable}"
    return CLI


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask a user may have (0): what must be private cannot rely on the user's."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)
