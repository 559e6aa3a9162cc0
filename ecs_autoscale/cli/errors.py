"""Uniform failure: one line on stderr, non-zero exit, never a traceback for an expected problem.

`failures()` is the one place where an expected failure (ecs_autoscale.errors) becomes that line;
every command runs inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import EcsAutoscaleError, Interrupted, one_line

F = TypeVar("F", bound=Callable[..., Any])


class UserError(click.ClickException):
    """An expected failure the user can fix; printed as `ecs-autoscale: <message>`."""

    def show(self, file: Any = None) -> None:
        click.echo(f"ecs-autoscale: {self.format_message()}", err=True)


class _Located(UserError):
    """A failure whose lines already start with `FILE:LINE:` (a model file's): shown without the prefix."""

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


class ModelFilesInvalid(EcsAutoscaleError):
    """Some model files are broken: one `FILE:LINE: ...` line per broken file, all of them reported."""

    located = True

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))


@contextmanager
def failures() -> Iterator[None]:
    """Expected failures become one line on stderr and exit 1 (an interruption, `Interrupted` or a bare
    Ctrl-C, exits 130); a bug keeps its traceback."""
    try:
        yield
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        raise _shown(Interrupted(), str(Interrupted())) from None
    except Exception as exc:
        line = one_line(exc)
        if line is None:
            raise
        raise _shown(exc, line) from None


def _shown(exc: BaseException, line: str) -> UserError:
    """The click exception that prints `line` and exits with the failure's code (1 unless it says)."""
    shown = (_Located if getattr(exc, "located", False) else UserError)(line)
    shown.exit_code = getattr(exc, "exit_code", 1)  # type: ignore[misc]  # click exits with the instance's
    return shown


def check_endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Callback of every `--endpoint-url`: a URL, not a bare host:port."""
    if value and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not a URL like http://127.0.0.1:4566")
    return value or None


def endpoint_option(what: str = "every AWS call") -> Callable[[F], F]:
    """--endpoint-url of every command that reaches AWS (ECS_AUTOSCALE_ENDPOINT_URL)."""
    from ..aws_target import ENDPOINT_ENV

    return click.option(
        "--endpoint-url",
        envvar=ENDPOINT_ENV,
        callback=check_endpoint,
        metavar="URL",
        help=f"Send {what} to this emulator, e.g. http://127.0.0.1:4566. Env: {ENDPOINT_ENV}.",
    )


profile_option = click.option(
    "--profile", metavar="NAME", help="AWS profile to use; default: the standard credential chain."
)


def check_model_files(paths: Iterable[Path]) -> Iterator[Any]:
    """(path, config, None) or (path, None, error line) for every file, in order. Beyond each file's own
    checks, a StackName already used by an earlier file is an error: it names the stack's folder,
    Terraform workspace and AWS resources. Compared ignoring case, as IAM names and some file
    systems do."""
    from ..model.config import parse_config
    from ..model.yaml_source import ConfigError, load_yaml

    first_file: dict[str, Path] = {}
    for path in paths:
        try:
            doc = load_yaml(path)
            config = parse_config(doc)
            earlier = first_file.setdefault(config.stack_name.casefold(), path)
            if earlier != path:
                raise ConfigError(
                    path,
                    doc.line_of("StackName"),
                    "StackName",
                    f"{config.stack_name!r} is already the StackName of {earlier}",
                    "give each model file its own StackName",
                )
        except ConfigError as exc:
            yield path, None, str(exc)
        else:
            yield path, config, None


def load_configs(paths: Iterable[Path]) -> Any:
    """Validate every file, report all broken ones (one line each), then fail if any was broken."""
    configs, errors = [], []
    for _path, config, error in check_model_files(paths):
        if error:
            errors.append(error)
        else:
            configs.append(config)
    if errors:
        with failures():
            raise ModelFilesInvalid(errors)
    return configs
