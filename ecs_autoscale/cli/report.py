"""`report`: a job's measured timeline and cost (client/measure.py), side by side with `estimate` (report/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import check_model_files, failures, load_configs
from .jobs import STACK_DIR, deepsea_option, stack_options

if TYPE_CHECKING:
    from ecs_autoscale.client.aws import AwsClients
    from ecs_autoscale.client.deepsea_cache import DeepseaCache
    from ecs_autoscale.client.stack_info import StackInfo
    from ecs_autoscale.model.config import ModelConfig


@click.command()
@STACK_DIR
@click.option("--job", required=True, metavar="NAME", help="The job to report on.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="CONFIG.yaml",
    help="The model file the stack was deployed from: `estimate` of the same workload is shown side by side, "
    "with the ratio of each figure. Default: the copy the last `deploy` kept (STACK_DIR/deployed-model.yaml); "
    "without either, the measured figures only.",
)
@click.option(
    "--minutes-per-video",
    type=click.FloatRange(min=0, min_open=True, max=100_000),
    metavar="MIN",
    help="Minutes one video takes on one task, for the comparison; default: reconstructed from when the "
    "videos finished and when the task slots were free.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print one JSON object; its "assumptions" object is what `estimate --assume-from` reads.',
)
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Also draw the measured queue, tasks and instances over time, above the estimate's, to FILE.png.",
)
@deepsea_option
@stack_options
def report(
    stack_dir: Path,
    job: str,
    config_file: Path | None,
    minutes_per_video: float | None,
    as_json: bool,
    plot_file: Path | None,
    deepsea: DeepseaCache | None,
    aws: AwsClients,
    info: StackInfo,
) -> None:
    """What a job really did and cost, from what AWS and the stack recorded, against the estimate.

    Changes nothing in AWS (like `status`, it keeps the outcomes it sees in the job's ledger). From
    the job's ledger (when each video was queued and finished), the Auto Scaling
    activity history (when each instance launched and terminated; kept six weeks) and the milestones
    the instance agents write to the stack's log group (boot, docker up, image pull, ECS registration,
    first task, idle, leaving; kept after the instances are gone): the timeline; per-phase figures
    named as in `estimate --list-assumptions` (median and max over the job's instances); GPU-instance
    hours as billed and their cost, on-demand or spot as launched, at the shipped dated prices; videos
    done, failed and cut. `estimate` of the same workload (the job's video count and its measured
    minutes per video) side by side, with the ratio measured/estimate of each figure, from the model
    file the last `deploy` kept in STACK_DIR, or --config. A job still running is reported as far as
    it got.

    Plan, run, measure, re-plan: `report --json > m.json`, then `estimate CONFIG --assume-from m.json`
    predicts the next job with this job's measured timings.

    \b
    Examples:
      ecs-autoscale report stacks/megadetector --job dive-1234 --config examples/megadetector.yaml
      ecs-autoscale report stacks/megadetector --job dive-1234 --json > measured.json
      ecs-autoscale report stacks/megadetector --job dive-1234 --config examples/megadetector.yaml --plot dive.png
    """
    from .. import report as comparing
    from ..client import measure
    from ..client.deepsea_cache import sync_deepsea_jobs
    from ..client.job_state import select_jobs
    from ..estimate.assumptions import load_prices
    from ..report.text import format_report

    config, model_file, config_notes = _config(stack_dir, config_file)
    with failures():
        sync_deepsea_jobs(aws, info, stack_dir, deepsea, [job])  # a job sent by deepsea-ai's ecsprocess
        select_jobs(stack_dir, job)  # a clear error for an unknown job
        prices = load_prices()
        measured = measure.collect(aws, info, stack_dir, job, minutes_per_video)
        estimate, notes = (None, config_notes) if config is None else comparing.estimate_for(measured, config, prices)
        result = comparing.as_json(measured, prices, estimate, notes)
        if plot_file is not None:
            from ..report.plot import write_plot

            write_plot(result, estimate, plot_file)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    click.echo(format_report(result, str(stack_dir), str(model_file) if model_file else None), nl=False)
    if config is None:
        click.echo(f"(add --config CONFIG.yaml, the model file of {info.stack_name}, to compare with `estimate`)")
    elif config_file is None:
        click.echo(f"(estimate of {model_file}, the model file the last deploy applied; --config overrides it)")
    if plot_file is not None:
        click.echo(f"Plot: {plot_file}")


def _config(stack_dir: Path, config_file: Path | None) -> tuple[ModelConfig | None, Path | None, list[str]]:
    """The model to estimate and its file: --config, else the copy the last deploy kept (a copy that no longer
    validates is a note, not an error: the measured figures do not need it)."""
    from ..stack_dir import StackDir

    if config_file is not None:
        return load_configs([config_file])[0], config_file, []
    kept = StackDir(stack_dir).deployed_model()
    if kept is None:
        return None, None, []
    ((_, config, error),) = check_model_files([kept])
    if error:
        why = f"no estimate: the model file the last deploy kept does not validate ({error}); pass --config"
        return None, None, [why]
    return config, kept, []
