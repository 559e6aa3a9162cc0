"""Uniform failure: one line on stderr, non-zero exit, never a traceback for an expected problem."""
from __future__ import annotations

import click


class UserError(click.ClickException):
    """An expected failure the user can fix; printed as `ecs-autoscale: <message>`."""

    def show(self, file=None) -> None:
        click.echo(f"ecs-autoscale: {self.format_message()}", err=True)


class Interrupted(UserError):
    """Ctrl-C / SIGTERM: exit 130, like a shell."""

    exit_code = 130


def check_endpoint(ctx: click.Context, param: click.Parameter, value: "str | None") -> "str | None":
    """Callback of every `--endpoint-url`: a URL, not a bare host:port."""
    if value and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not a URL like http://127.0.0.1:4566")
    return value or None


def load_configs(paths):
    """Validate every file, report all broken ones (one line each), then fail if any was broken."""
    from ..config import ConfigError, load_config

    configs, errors = [], []
    for path in paths:
        try:
            configs.append(load_config(path))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        for line in errors[:-1]:
            click.echo(line, err=True)
        raise _ConfigFailure(errors[-1])
    return configs


class _ConfigFailure(UserError):
    """Config errors already carry their `FILE:LINE:` prefix."""

    def show(self, file=None) -> None:
        click.echo(self.format_message(), err=True)
