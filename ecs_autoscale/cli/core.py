"""`validate` and `synth`."""

from __future__ import annotations

from pathlib import Path

import click

from .errors import check_model_files, failures, load_configs

MODEL_FILES = click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--list-instance-types",
    is_flag=True,
    help="Print the NVIDIA GPU instance types InstanceTypes accepts (GPUs, vCPUs, memory, arch) and exit.",
)
def validate(files: tuple[Path, ...], list_instance_types: bool) -> None:
    """Check model FILES without touching AWS or writing anything.

    Each good file gets an `ok` line on stdout; each broken file gets one line on stderr,
    `FILE:LINE: Field: problem (fix)`. Every file is checked even when an earlier one is broken; the
    exit status is 1 if any file is broken. Unknown keys are errors (with the nearest known key
    suggested), so a typo never silently deploys a default; so is a StackName that an earlier file
    already uses (ignoring case), since it names the stack's AWS resources. InstanceTypes must be
    NVIDIA GPU types of the shipped, dated table (one architecture, one GPU count, GpusPerTask
    dividing it): `--list-instance-types` prints that table.

    \b
    Examples:
      ecs-autoscale validate examples/*.yaml
      ecs-autoscale validate --list-instance-types
    """
    if list_instance_types:
        from ..model.instance_types import table_text

        click.echo(table_text())
        return
    if not files:
        raise click.UsageError("Missing argument 'FILES...' (or use --list-instance-types).")
    from ..model.config import environment_warnings

    broken = 0
    for path, config, error in check_model_files(files):
        if error:
            click.echo(error, err=True)
            broken += 1
            continue
        click.echo(
            f"{path}: ok ({config.stack_name}, {config.region}, up to {config.fleet_size} x "
            f"{'/'.join(config.instance_types)}{' spot' if config.spot else ''})"
        )
        for warning in environment_warnings(path, config):  # warnings never fail the file
            click.echo(warning, err=True)
    if broken:
        raise click.exceptions.Exit(1)


@click.command()
@MODEL_FILES
@click.option(
    "--out",
    "outdir",
    default="cdktf.out",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder; each stack goes to OUT/stacks/<StackName>/cdk.tf.json (the cdktf layout).",
)
@click.option("--no-cache", is_flag=True, help="Re-synthesize even when the model and the tool are unchanged.")
def synth(files: tuple[Path, ...], outdir: Path, no_cache: bool) -> None:
    """Synthesize model FILES to plain Terraform JSON.

    The JSON is self-sufficient (review it with `terraform plan`, apply it without this tool) and
    reproducible: the same model gives identical bytes. Unchanged models are served from a cache
    keyed on the model and the tool's version; all files are validated before anything is written.
    """
    from ..synthesis.synth import synthesize

    configs = load_configs(files)
    with failures():
        results = synthesize(configs, outdir, use_cache=not no_cache)
    for result in results:
        click.echo(f"{result.path}{' (unchanged)' if result.cached else ''}")
