"""`plan`, `deploy`, `outputs`, `destroy` (one model, one STACK_DIR, workspace = StackName) and `emulator`."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..aws_target import ENDPOINT_ENV
from ..deployment.terraform import MIRROR_ENV
from .errors import UserError, endpoint_option, failures, load_configs, profile_option

if TYPE_CHECKING:
    from ecs_autoscale.aws_target import AwsTarget
    from ecs_autoscale.deployment.stack_deployment import Deployment
    from ecs_autoscale.deployment.teardown import DestroyPlan
    from ecs_autoscale.deployment.terraform import Terraform

EMULATOR_EXTRA = "install it with `pip install 'ecs-autoscale[emulator]'`"
CONFIG_ARG = click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(dir_okay=False, path_type=Path))
STACK_DIR_ARG = click.argument("stack_dir_path", metavar="STACK_DIR", type=click.Path(file_okay=False, path_type=Path))


def _check_mirror(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value:
        from ..deployment.terraform import check_provider_mirror

        problem = check_provider_mirror(value)
        if problem:
            raise click.BadParameter(problem)
    return value


def target_options(command: Callable[..., Any]) -> Any:
    """--endpoint-url, --provider-mirror, --profile and -v, shared by every Terraform command."""

    @endpoint_option("every AWS call (Terraform and boto3)")
    @click.option(
        "--provider-mirror",
        envvar=MIRROR_ENV,
        callback=_check_mirror,
        metavar="DIR",
        type=click.Path(file_okay=False, path_type=Path),
        help="Install the hashicorp/aws provider only from this folder (layout of `terraform providers "
        f"mirror`), never from the network. Env: {MIRROR_ENV}.",
    )
    @profile_option
    @click.option("-v", "--verbose", is_flag=True, help="Stream Terraform's own output instead of the summary.")
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        endpoint_url: str | None,
        provider_mirror: Path | None,
        profile: str | None,
        verbose: bool,
        **kwargs: Any,
    ) -> Any:
        from ..aws_target import AwsTarget

        target = AwsTarget(endpoint_url=endpoint_url, profile=profile, provider_mirror=provider_mirror)
        return command(*args, target=target, verbose=verbose, **kwargs)

    return wrapper


def _deployment(config_path: Path, stack_dir_path: Path, target: AwsTarget, verbose: bool) -> Any:
    from ..deployment.stack_deployment import Deployment
    from ..stack_dir import StackDir

    (config,) = load_configs([config_path])
    return Deployment(
        config=config,
        config_path=config_path,
        stack_dir=StackDir(stack_dir_path),
        target=target,
        verbose=verbose,
        echo=click.echo,
    )


def _require_terminal(auto_approve: bool, command: str) -> None:
    if not auto_approve and not sys.stdin.isatty():
        raise UserError(
            f"{command} asks for confirmation but no terminal is attached: pass --auto-approve "
            "(review first with `ecs-autoscale plan`)"
        )


@contextmanager
def _failures(stack_dir_path: Path, config_path: Path | None = None) -> Iterator[None]:
    """failures(), with a failed Terraform run's advice added to its line (deployment/failure_advice.py);
    with `config_path`, a failure whose cause `doctor` checks suggests running it."""
    from ..deployment.failure_advice import advice
    from ..deployment.terraform import TerraformFailed

    with failures():
        try:
            yield
        except TerraformFailed as exc:
            exc.advice = advice(exc.stderr, stack_dir_path, config_path)
            raise


# ---- plan -----------------------------------------------------------------------------------------
@click.command()
@CONFIG_ARG
@STACK_DIR_ARG
@target_options
def plan(config_path: Path, stack_dir_path: Path, target: AwsTarget, verbose: bool) -> None:
    """Save a reviewable plan of CONFIG.yaml's stack without changing anything in AWS.

    Writes STACK_DIR/plans/review.tfplan (binary, for `deploy --plan-file`), review.txt (what a person
    reads) and review.json (`terraform show -json`). The state lives in STACK_DIR/state (workspace =
    StackName) unless the model file sets a Backend. If an earlier apply stopped part-way (Ctrl-C, a
    lost network), what it created but could not record is first imported into the state (as `deploy`
    does), so the plan does not create it a second time.

    \b
    Example:
      ecs-autoscale plan examples/megadetector.yaml stacks/megadetector
      less stacks/megadetector/plans/review.txt
      ecs-autoscale deploy examples/megadetector.yaml stacks/megadetector \\
          --plan-file stacks/megadetector/plans/review.tfplan
    """
    deployment = _deployment(config_path, stack_dir_path, target, verbose)
    _check_lookup_name(deployment, stack_dir_path)
    with _failures(stack_dir_path, config_path), deployment.stack_dir.locked("plan"):
        tf = deployment.prepare()
        deployment.adopt_unfinished_creates(tf)
        summary = deployment.save_review_plan(tf)
        files = deployment.stack_dir.plan_files("review")
    if not summary.has_resource_changes and not summary.output_changes:
        click.echo(f"No changes: {deployment.name} as deployed matches {config_path}.")
    else:
        click.echo(
            f"Review {files.text}, then apply exactly this plan with:\n"
            f"  ecs-autoscale deploy {config_path} {stack_dir_path} --plan-file {files.binary}"
        )


# ---- deploy ---------------------------------------------------------------------------------------
@click.command()
@CONFIG_ARG
@STACK_DIR_ARG
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed when no terminal is attached).")
@click.option(
    "--plan-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Apply exactly this plan saved by `ecs-autoscale plan` (it was reviewed, so no question is "
    "asked); refused when stale or when CONFIG.yaml changed since.",
)
@target_options
def deploy(
    config_path: Path,
    stack_dir_path: Path,
    auto_approve: bool,
    plan_file: Path | None,
    target: AwsTarget,
    verbose: bool,
) -> None:
    """Deploy (or update) CONFIG.yaml's stack; keep everything about it in STACK_DIR.

    Synthesizes the model, runs `terraform init`, selects or creates the workspace named StackName,
    plans, shows what changes, asks for confirmation on a terminal, applies, then writes
    STACK_DIR/outputs.json (stack outputs, flat name -> value), STACK_DIR/README.md (how to use
    the stack) and a copy of CONFIG.yaml (deployed-model.yaml: `report` estimates from it). The
    plan (plans/deploy.*) and Terraform's output (logs/apply.log) stay in STACK_DIR.
    With a warm pool, the stopped pool instances a new launch template leaves stale are released from
    the termination hook once the instance refresh reaches them (docs/scaling.md).
    Run it again after editing the model: only the differences are applied. One deploy per STACK_DIR
    at a time: a second one fails at once. Interrupted (Ctrl-C once: Terraform stops safely), it
    records the creations cut off mid-request; the next deploy imports those AWS carried out.

    \b
    Examples:
      ecs-autoscale deploy examples/megadetector.yaml stacks/megadetector
      ecs-autoscale deploy examples/megadetector.yaml stacks/megadetector --auto-approve   # CI
      ecs-autoscale emulator &   # then, on a machine without AWS:
      ecs-autoscale deploy examples/megadetector.yaml stacks/megadetector --auto-approve \\
          --endpoint-url http://127.0.0.1:4566 --provider-mirror /opt/tf-plugins
    """
    if plan_file is None:
        _require_terminal(auto_approve, "deploy")
    _refuse_while_stopped(stack_dir_path)
    started = time.monotonic()
    deployment = _deployment(config_path, stack_dir_path, target, verbose)
    _check_lookup_name(deployment, stack_dir_path)
    sd = deployment.stack_dir
    with _failures(stack_dir_path, config_path), sd.locked("deploy"):
        tf = deployment.prepare()
        if plan_file is not None:
            meta = deployment.check_review_plan(plan_file)
            _apply_reviewed_plan(deployment, tf, plan_file.resolve(), meta)
        else:
            deployment.adopt_unfinished_creates(tf)
            _plan_confirm_apply(deployment, tf, auto_approve)
        outputs = deployment.refresh_outputs(tf)
        deployment.remember_model()
        _release_stale_warm_pool(deployment)
    click.echo(
        f"Deployed {deployment.name} in {time.monotonic() - started:.0f}s: {len(outputs)} outputs in "
        f"{sd.outputs_file}; how to use it: {sd.readme_file}"
    )


def _release_stale_warm_pool(deployment: Deployment) -> None:
    """After the apply: the instance refresh's stale warm-pool instances go now, not after the termination
    hook's heartbeat timeout (stack_deployment.release_stale_warm_pool). The apply succeeded, so an AWS error
    here is a warning, not a failed deploy."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        deployment.release_stale_warm_pool()
    except (BotoCoreError, ClientError) as exc:
        click.echo(
            f"warning: could not release the stale warm-pool instances of {deployment.config.names.asg} ({exc}); "
            "they go after the termination hook's heartbeat timeout",
            err=True,
        )


def _plan_confirm_apply(deployment: Deployment, tf: Terraform, auto_approve: bool) -> None:
    files = deployment.stack_dir.plan_files("deploy")
    summary = deployment.make_plan(tf, files)
    if summary.has_resource_changes and not auto_approve:
        if not click.confirm(f"Apply these changes to {deployment.name}?", default=False):
            raise UserError(f"cancelled: nothing was changed (the plan is in {files.text})")
    if summary.has_resource_changes or summary.output_changes:
        deployment.apply(tf, files.binary, summary)
    else:
        click.echo(f"No changes: {deployment.name} is up to date.")


def _check_lookup_name(deployment: Deployment, stack_dir_path: Path) -> None:
    """Before anything is written: the deepsea-ai lookup stack's name must not belong to another
    CloudFormation stack (the original CDK stack: the migration case)."""
    from ..deployment.cfn_guard import check_lookup_name_free

    with _failures(stack_dir_path):
        note = check_lookup_name_free(deployment.target, deployment.config)
    if note:
        click.echo(note, err=True)


def _refuse_while_stopped(stack_dir_path: Path) -> None:
    """An apply would restore the group's maximum `stop` lowered to 0, silently undoing an emergency stop."""
    from ..stack_dir import StackDir

    if StackDir(stack_dir_path).read_stop_record() is not None:
        raise UserError(
            f"{stack_dir_path} is stopped (`ecs-autoscale stop`); a deploy would let the GPU fleet "
            f"grow again: run `ecs-autoscale resume {stack_dir_path}` first"
        )


def _apply_reviewed_plan(deployment: Deployment, tf: Terraform, planfile: Path, meta: dict) -> None:
    import json

    from ..deployment.terraform import summarize_plan
    from ..stack_dir import PlanFiles

    text_json = PlanFiles.of(planfile).json
    summary = summarize_plan(json.loads(text_json.read_text())) if text_json.is_file() else None
    click.echo(f"Applying the reviewed plan {planfile} ({meta.get('summary', 'saved ' + meta.get('created', ''))}).")
    deployment.apply(tf, planfile, summary)
    deployment.mark_applied(planfile, meta)


# ---- outputs --------------------------------------------------------------------------------------
@click.command()
@CONFIG_ARG
@STACK_DIR_ARG
@target_options
def outputs(config_path: Path, stack_dir_path: Path, target: AwsTarget, verbose: bool) -> None:
    """Re-read the deployed stack's outputs from its state into STACK_DIR/outputs.json.

    Also re-renders STACK_DIR/README.md. Changes nothing in AWS. Use it after a deploy from another
    machine (S3 backend) or when outputs.json was lost.

    \b
    Example:
      ecs-autoscale outputs examples/megadetector.yaml stacks/megadetector
      jq -r .video_queue_url stacks/megadetector/outputs.json
    """
    deployment = _deployment(config_path, stack_dir_path, target, verbose)
    with _failures(stack_dir_path):
        deployment.require_deployed_here()
    with _failures(stack_dir_path), deployment.stack_dir.locked("outputs"):
        tf = deployment.prepare(create_workspace=False)
        values = deployment.refresh_outputs(tf)
    for name, value in values.items():
        click.echo(f"{name} = {value}")
    click.echo(f"Wrote {deployment.stack_dir.outputs_file}")


# ---- destroy --------------------------------------------------------------------------------------
@click.command()
@CONFIG_ARG
@STACK_DIR_ARG
@click.option("--auto-approve", is_flag=True, help="Destroy without asking (needed when no terminal is attached).")
@click.option(
    "--delete-results-bucket-and-results",
    "delete_results",
    is_flag=True,
    help="Also delete the tracks bucket WITH EVERY RESULT IN IT (all versions). Default: keep it.",
)
@click.option(
    "--discard-queued-videos",
    is_flag=True,
    help="Destroy even while videos wait or run in the video queue (their jobs are lost).",
)
@click.option(
    "--delete-uploaded-videos",
    is_flag=True,
    help="Destroy even when the video bucket still holds uploaded videos (they are deleted).",
)
@click.option(
    "--instance-wait-seconds",
    type=click.IntRange(1, 7200),
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the GPU instances to terminate before removing "
    "anything; past it, destroy stops with what is still running.",
)
@target_options
def destroy(
    config_path: Path,
    stack_dir_path: Path,
    auto_approve: bool,
    delete_results: bool,
    discard_queued_videos: bool,
    delete_uploaded_videos: bool,
    instance_wait_seconds: int,
    target: AwsTarget,
    verbose: bool,
) -> None:
    """Tear down CONFIG.yaml's stack: instances to zero, then remove it, keeping the results.

    Refuses while videos are queued or in progress, and while the video bucket holds uploads, unless
    told otherwise. Then sets the Auto Scaling group to 0 and waits (with progress) until its GPU
    instances are gone, deregisters any container instance the cluster still lists (so deleting the
    cluster cannot fail), and removes every resource except the tracks (results) bucket: that bucket
    and its settings are taken out of the Terraform state (AWS keeps them) and recorded in
    STACK_DIR/kept-resources.json and README.md. STACK_DIR/outputs.json is removed since its queues
    no longer exist. What an interrupted deploy created but could not record is imported first, so it
    goes too.

    \b
    Examples:
      ecs-autoscale destroy examples/megadetector.yaml stacks/megadetector
      ecs-autoscale destroy examples/megadetector.yaml stacks/megadetector --auto-approve \\
          --delete-results-bucket-and-results    # everything, results included
    """
    from ..deployment.teardown import DestroyOptions

    _require_terminal(auto_approve, "destroy")
    started = time.monotonic()
    deployment = _deployment(config_path, stack_dir_path, target, verbose)
    sd = deployment.stack_dir
    options = DestroyOptions(
        delete_results=delete_results,
        discard_queued_videos=discard_queued_videos,
        delete_uploaded_videos=delete_uploaded_videos,
        instance_wait_seconds=instance_wait_seconds,
    )
    with _failures(stack_dir_path):
        deployment.require_deployed_here()
    with _failures(stack_dir_path), sd.locked("destroy"):
        tf = deployment.prepare(create_workspace=False)
        deployment.adopt_unfinished_creates(tf)  # else what an interrupted deploy created would outlive the stack
        plan = deployment.plan_destroy(tf, options)
        if plan is None:
            deployment.after_destroy()
            click.echo(f"Nothing to destroy: {deployment.name} has no resources in its state.")
            return
        _confirm_destroy(deployment, plan, auto_approve)
        deployment.run_destroy(tf, plan)
    _say_destroyed(deployment, plan, time.monotonic() - started)


def _confirm_destroy(deployment: Deployment, plan: DestroyPlan, auto_approve: bool) -> None:
    """Refuse (queued videos, uploads), show what goes and what stays, and ask on a terminal."""
    refusal = plan.refusal()
    if refusal:
        raise UserError(refusal)
    for line in plan.summary(deployment.config.region):
        click.echo(line)
    if not auto_approve and not click.confirm(f"Destroy {deployment.name}?", default=False):
        raise UserError("cancelled: nothing was changed")


def _say_destroyed(deployment: Deployment, plan: DestroyPlan, seconds: float) -> None:
    kept_file = deployment.stack_dir.kept_file
    click.echo(
        f"Destroyed {deployment.name} in {seconds:.0f}s"
        + (f"; kept the results bucket {plan.tracks_bucket} (recorded in {kept_file})" if plan.keep else ".")
    )
    earlier = deployment.kept_by_earlier_destroys(plan)
    if earlier:
        click.echo(f"Still in AWS, kept by an earlier destroy: {', '.join(earlier)} (see {kept_file})")


# ---- emulator -------------------------------------------------------------------------------------
@click.command()
@click.option(
    "--port", default=4566, show_default=True, type=click.IntRange(1, 65535), help="Port on 127.0.0.1 to listen on."
)
@click.option(
    "--list-rules", is_flag=True, help="Print the AWS rules the emulator enforces, each with its document, and exit."
)
def emulator(port: int, list_rules: bool) -> None:
    """Run a local AWS emulator (moto plus this stack's patches) on 127.0.0.1, in the foreground.

    It refuses what AWS refuses and does what AWS does where the stack relies on it (see --list-rules),
    e.g. a Scheduler target AWS does not support, lifecycle hooks, warm pools, container draining.

    Everything lives in memory and is gone when it stops (Ctrl-C). Point the other commands at it with
    --endpoint-url or ECS_AUTOSCALE_ENDPOINT_URL. Needs the `emulator` extra (moto). Its GPU vCPU
    quotas (for `doctor`) are 256 vCPUs; set ECS_AUTOSCALE_EMULATOR_QUOTAS before starting it to
    change them, e.g. L-DB2E81BA=8 (On-Demand G and VT) or L-3819A6DF=0 (Spot G and VT).

    \b
    Example (two terminals, no AWS account needed):
      ecs-autoscale emulator --port 4566
      export ECS_AUTOSCALE_ENDPOINT_URL=http://127.0.0.1:4566
      ecs-autoscale deploy examples/megadetector.yaml stacks/megadetector --auto-approve
    """
    if list_rules:
        from ..emulator.rules import listing

        click.echo("\n".join(listing()))
        return
    _check_port_free(port)
    click.echo(
        f"AWS emulator on http://127.0.0.1:{port} (Ctrl-C stops it). Use:\n"
        f"  export {ENDPOINT_ENV}=http://127.0.0.1:{port}"
    )
    with failures():  # e.g. another moto release than the patches are written for
        try:
            from ..emulator.server import serve

            serve("127.0.0.1", port)
        except ImportError as exc:
            raise UserError(f"the emulator needs moto ({exc}); {EMULATOR_EXTRA}") from None
        except OSError as exc:
            raise _cannot_listen(port, exc) from None
        except KeyboardInterrupt:
            click.echo("Emulator stopped.")


def _check_port_free(port: int) -> None:
    """One clear line instead of the web server's multi-line complaint when the port is taken."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise _cannot_listen(port, exc) from None


def _cannot_listen(port: int, exc: OSError) -> UserError:
    return UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} (choose another --port)")
