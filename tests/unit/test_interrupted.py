"""One exception for an interruption (ecs_autoscale.errors.Interrupted): a bare Ctrl-C and an interruption
the library handled (Terraform stopped and saved its state; a submit cut short) both end as one line and
exit 130, like a shell; any other expected failure exits 1."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from ecs_autoscale.cli.errors import failures
from ecs_autoscale.deployment.terraform import TERRAFORM_STOPPED
from ecs_autoscale.errors import EcsAutoscaleError, Interrupted

RAISED = {
    "ctrl-c": KeyboardInterrupt(),
    "terraform": Interrupted(TERRAFORM_STOPPED),
    "other": EcsAutoscaleError("the model file is broken", "fix it"),
}


@click.command()
@click.argument("what")
def command(what: str) -> None:
    with failures():
        raise RAISED[what]


@pytest.mark.parametrize(
    ("what", "code", "line"),
    [
        ("ctrl-c", 130, "ecs-autoscale: interrupted"),
        ("terraform", 130, f"ecs-autoscale: {TERRAFORM_STOPPED}"),
        ("other", 1, "ecs-autoscale: the model file is broken (fix it)"),
    ],
)
def test_an_interruption_exits_130_with_one_line(what, code, line):
    result = CliRunner().invoke(command, [what])
    assert (result.exit_code, result.output) == (code, line + "\n")
