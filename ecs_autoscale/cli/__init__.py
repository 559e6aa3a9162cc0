"""The `ecs-autoscale` command. Subcommands live in one module per concern and load on demand, so
`--help` and `validate` never pay for cdktf, jsii, boto3 or moto."""

from __future__ import annotations

import importlib

import click

from .. import __version__

# name -> (module, attribute, one-line help shown by `ecs-autoscale --help` without importing it)
COMMANDS = {
    "validate": ("core", "validate", "Check model files; one line per problem (FILE:LINE: Field: problem (fix))."),
    "synth": ("core", "synth", "Write Terraform JSON per model to DIR/stacks/<StackName>/cdk.tf.json."),
    "plan": ("lifecycle", "plan", "Save a reviewable plan (binary, text, JSON) of a model in STACK_DIR."),
    "doctor": ("doctor", "doctor", "Read-only pre-flight of an AWS account for a model; one line per finding."),
    "deploy": ("lifecycle", "deploy", "Synthesize, plan, confirm, apply; write STACK_DIR/outputs.json and README.md."),
    "outputs": ("lifecycle", "outputs", "Re-read the deployed stack's outputs into STACK_DIR/outputs.json."),
    "destroy": ("lifecycle", "destroy", "Scale to zero, then remove the stack (results bucket kept by default)."),
    "emulator": ("lifecycle", "emulator", "Run the local moto-based AWS emulator in the foreground."),
    "submit": ("jobs", "submit", "Upload videos and queue one job message per video."),
    "status": ("jobs", "status", "Queues, tasks, instances, scaling activity and per-video state of a job."),
    "results": ("jobs", "results", "Download a job's .tracks.tar.gz results."),
    "stop": ("jobs", "stop", "Emergency stop: tasks and instances to zero, queued videos kept."),
    "resume": ("jobs", "resume", "Undo `stop`: let queue-driven scaling run again."),
    "report": ("report", "report", "A job's measured timeline, hours and cost, side by side with the estimate."),
    "estimate": ("estimate", "estimate", "Simulate a workload: timeline, GPU hours and cost, before deploying."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ecs-autoscale")
def main() -> None:
    """Turn one YAML file per ML model into an elastic GPU video-processing stack on AWS.

    Each model file becomes plain Terraform JSON (through CDKTF) with an SQS video queue, queue-driven
    scaling, an ECS service on a GPU Auto Scaling group that idles at zero, and S3 buckets for videos
    and results. Typical use:

    \b
      ecs-autoscale validate examples/megadetector.yaml
      ecs-autoscale deploy examples/megadetector.yaml stacks/megadetector
      ecs-autoscale submit stacks/megadetector videos/ --job dive-1234
      ecs-autoscale status stacks/megadetector --watch
    """
