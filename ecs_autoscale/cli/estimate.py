"""`estimate`: spin-up, spin-down and cost of a workload, from the same config that deploys.

Never imports cdktf/jsii (the model reads `scaling_design`, not the constructs); matplotlib loads only
with --plot.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import failures, load_configs


def _list_assumptions(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from ..estimate.assumptions import listing

    click.echo(listing())
    ctx.exit(0)


@click.command()
@click.argument("config_file", metavar="CONFIG.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--videos", type=click.IntRange(min=1, max=1_000_000), required=True, help="Number of videos to process.")
@click.option(
    "--minutes-per-video",
    "minutes_text",
    metavar="MINUTES|SHORTEST-LONGEST",
    required=True,
    help="Wall time of one video on one GPU task, download and upload included: MINUTES for equal videos, "
    "or SHORTEST-LONGEST (e.g. 5-40) for lengths spread evenly over that range in a mixed order (video i, "
    "in queue order from 0, takes SHORTEST + (LONGEST - SHORTEST) x frac((i + 0.5) x golden ratio): "
    "deterministic, mean at the midpoint).",
)
@click.option(
    "--arrival",
    default="burst",
    show_default=True,
    metavar="burst|spread:HOURS",
    help="burst: every video queued at once (one `submit`); spread:HOURS: evenly over HOURS.",
)
@click.option(
    "--sender",
    type=click.Choice(["ecs-autoscale", "other"]),
    default="ecs-autoscale",
    show_default=True,
    help="Who queues the videos: `ecs-autoscale submit` (sizes the fleet as it queues) or another client "
    "such as deepsea-ai ecsprocess (only the backstop alarm sees its videos).",
)
@click.option(
    "--workers-fail",
    type=click.Choice(["exit", "hang"]),
    is_flag=False,
    flag_value="exit",
    default=None,
    help="Workers that cannot take videos, to see when the stack stops spending: `exit` (the default "
    "when given alone: every worker exits before it takes a video, a bad image or an unreadable model; "
    "the instance agent halts the stack) or `hang` (every worker runs and never takes one, e.g. no "
    "route to the model's bucket; the stuck alarm stops the fleet).",
)
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Also draw queue depth, tasks and instances over time to FILE.png.",
)
@click.option(
    "--compare-original",
    is_flag=True,
    help="Also run the same workload under the original stack's scaling, side by side.",
)
@click.option(
    "--assume",
    "overrides",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a timing or price assumption (repeatable), e.g. --assume image_pull_s=300 "
    "--assume price.g4dn.xlarge.spot=0.25.",
)
@click.option(
    "--assume-from",
    "assume_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.json",
    help="Take assumptions from a JSON object of NAME: VALUE (the names of --list-assumptions), the whole "
    'file or its "assumptions" object: `ecs-autoscale report --json` writes the measured timings there. '
    "Each counts as --assume NAME=VALUE; --assume on the command line wins.",
)
@click.option(
    "--list-assumptions",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_assumptions,
    help="List every assumption with its default, meaning and source, then exit.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON instead of text.")
def estimate(
    config_file: Path,
    videos: int,
    minutes_text: str,
    arrival: str,
    sender: str,
    workers_fail: str | None,
    plot_file: Path | None,
    compare_original: bool,
    overrides: tuple[str, ...],
    assume_file: Path | None,
    as_json: bool,
) -> None:
    """Simulate a workload on the stack CONFIG.yaml deploys, before deploying it.

    A discrete-event model of the synthesized scaling design (submit sizing the fleet, the backstop
    alarms' own expressions, the instance agents scaling in after ScaleInIdleMinutes of their own idle
    workers, the termination hook, tasks per GPU instance, the warm pool, FleetSize, the visibility
    timeout and retries) prints when the first
    task runs, when all videos are done, when the fleet is back to zero instances, how many videos
    were cut mid-run, the GPU-instance hours and their cost, and what the stack costs per month while
    idle. The scaling numbers come from the same object the Terraform is built from; how fast AWS
    reacts are named assumptions, and the AWS rules the design relies on are listed with their
    sources (--list-assumptions). By default the queue is assumed idle for days before the first
    video (its CloudWatch metrics wake up 15 minutes late); --assume sqs_inactive_wakeup_s=0 for a
    queue in use.

    \b
    Examples:
      ecs-autoscale estimate examples/megadetector.yaml --videos 20 --minutes-per-video 30
      ecs-autoscale estimate examples/megadetector-fleet.yaml --videos 40 --minutes-per-video 5-40
      ecs-autoscale estimate examples/fathomnet-spot.yaml --videos 200 --minutes-per-video 12 \\
          --arrival spread:8 --compare-original --plot estimate.png
      ecs-autoscale estimate examples/megadetector.yaml --videos 5 --minutes-per-video 45 \\
          --assume image_pull_s=300 --assume sqs_inactive_wakeup_s=0 --sender other
      ecs-autoscale report stacks/megadetector --job dive-1 --json > measured.json
      ecs-autoscale estimate examples/megadetector.yaml --videos 400 --minutes-per-video 12 \\
          --assume-from measured.json
    """
    from .. import estimate as estimating
    from ..estimate import report
    from ..estimate.assumptions import apply_overrides, read_assume_file
    from ..estimate.workload import Workload, parse_arrival, parse_minutes

    config = load_configs([config_file])[0]
    with failures():
        from_file = read_assume_file(assume_file) if assume_file is not None else []
        assumptions, prices = apply_overrides([*from_file, *overrides])
        shortest, longest = parse_minutes(minutes_text)
        workload = Workload(
            videos, shortest, parse_arrival(arrival), workers_fail=workers_fail or "", longest_minutes=longest
        )
        result = estimating.run(config, workload, assumptions, prices, compare_original=compare_original, sender=sender)
        if plot_file is not None:
            from ..estimate.plot import write_plot

            write_plot(result, plot_file)
    if as_json:
        click.echo(json.dumps(report.as_json(result), indent=2, sort_keys=True))
    else:
        click.echo(report.text(result), nl=False)
        if plot_file is not None:
            click.echo(f"Plot: {plot_file}")
