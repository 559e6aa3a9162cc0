"""A small Terraform runner: init, workspaces, saved plans, apply with progress, outputs, destroy, state.

Every command runs with `-input=false -no-color` and TF_IN_AUTOMATION=1, so Terraform never waits for
an answer nobody can give. Terraform's own diagnostics (stderr) always reach the user unchanged; a
non-zero exit becomes `TerraformFailed`. Terraform runs in its own session so a Ctrl-C (or SIGTERM)
reaches it exactly once, forwarded by us: one interrupt is Terraform's graceful stop that saves the
state, a second one would be its "exit immediately, data loss may occur".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..echo import Echo, silent
from ..errors import EcsAutoscaleError, Interrupted

PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws"
TERRAFORM_MIN_VERSION = (1, 10)
"""The oldest Terraform supported, stated once: S3-native state locking (`use_lockfile`) needs 1.10
(scripts/bootstrap, the runner and README's `terraform-version` block, written by scripts/docs, say it
from here)."""
TERRAFORM_REQUIREMENT = ">= " + ".".join(map(str, TERRAFORM_MIN_VERSION))
MIRROR_ENV = "ECS_AUTOSCALE_PROVIDER_MIRROR"
# Exit codes of `terraform plan -detailed-exitcode`.
PLAN_NO_CHANGES, PLAN_FAILED, PLAN_HAS_CHANGES = 0, 1, 2

INSTALL_URL = "https://developer.hashicorp.com/terraform/install"


class TerraformFailed(EcsAutoscaleError):
    """Terraform exited non-zero; its diagnostics were already shown. `stderr` keeps them for callers."""

    def __init__(self, command: str, returncode: int, stderr: str) -> None:
        self.command, self.returncode, self.stderr = command, returncode, stderr
        super().__init__(f"`terraform {command}` failed (exit {returncode})")
        self.advice = ""
        """What the caller knows about this run (which STACK_DIR, which check of `doctor`), appended to
        the line as it stands (": ..." or " (...)")."""

    def __str__(self) -> str:
        return f"{super().__str__()}{self.advice}"


TERRAFORM_STOPPED = "interrupted: Terraform stopped cleanly and saved the state; run the same command again to converge"
"""The user interrupted; Terraform was asked to stop gracefully and has exited."""


class TerraformMissing(EcsAutoscaleError):
    """No Terraform on PATH, or one older than TERRAFORM_MIN_VERSION."""


def terraform_version_problem(executable: str = "terraform") -> str | None:
    """Why `executable` cannot serve (missing, too old, unreadable version), None when it can."""
    found = shutil.which(executable)
    if not found:
        return f"`{executable}` is not on PATH; install Terraform {TERRAFORM_REQUIREMENT} ({INSTALL_URL})"
    try:
        out = subprocess.run([found, "version", "-json"], capture_output=True, text=True, timeout=60).stdout
        version = tuple(int(part) for part in json.loads(out)["terraform_version"].split(".")[:2])
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        return f"`{found} version -json` did not say its version; install Terraform {TERRAFORM_REQUIREMENT}"
    if version < TERRAFORM_MIN_VERSION:
        have = ".".join(map(str, version))
        return f"{found} is Terraform {have}; install Terraform {TERRAFORM_REQUIREMENT} ({INSTALL_URL})"
    return None


def provider_mirror_config(mirror: Path) -> str:
    """CLI configuration that installs hashicorp/aws only from `mirror` (never from the network)."""
    return (
        "# Written by ecs-autoscale: hashicorp/aws comes only from the provider mirror below.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        f"    include = [{json.dumps(PROVIDER_ADDRESS)}]\n"
        "  }\n"
        "  direct {\n"
        f"    exclude = [{json.dumps(PROVIDER_ADDRESS)}]\n"
        "  }\n"
        "}\n"
    )


def check_provider_mirror(mirror: Path) -> str | None:
    """None when `mirror` has the layout `terraform providers mirror` writes, else what is wrong."""
    if not mirror.is_dir():
        return f"{mirror} is not a folder"
    if not (mirror / PROVIDER_ADDRESS).is_dir():
        return f"{mirror} has no {PROVIDER_ADDRESS}/ (make one with `terraform providers mirror {mirror}`)"
    return None


@dataclass(frozen=True)
class PlanSummary:
    """What a saved plan does, read from `terraform show -json`."""

    changes: tuple[tuple[str, str], ...]
    """(symbol, address) per changing resource: + create, ~ update, - delete, -/+ replace."""
    output_changes: bool

    @property
    def counts(self) -> dict[str, int]:
        out = {"add": 0, "change": 0, "destroy": 0}
        for symbol, _ in self.changes:
            if symbol in ("+", "-/+", "+/-"):
                out["add"] += 1
            if symbol in ("-", "-/+", "+/-"):
                out["destroy"] += 1
            if symbol == "~":
                out["change"] += 1
        return out

    @property
    def has_resource_changes(self) -> bool:
        return bool(self.changes)

    def headline(self) -> str:
        c = self.counts
        return f"{c['add']} to add, {c['change']} to change, {c['destroy']} to destroy"


ACTION_SYMBOLS = {
    ("create",): "+",
    ("update",): "~",
    ("delete",): "-",
    ("delete", "create"): "-/+",
    ("create", "delete"): "+/-",
}


def summarize_plan(plan_json: dict[str, Any]) -> PlanSummary:
    changes = []
    for change in plan_json.get("resource_changes", []):
        if change.get("mode") == "data":
            continue
        symbol = ACTION_SYMBOLS.get(tuple(change["change"]["actions"]))
        if symbol:
            changes.append((symbol, change["address"]))
    outputs = any(tuple(o.get("actions", ())) != ("no-op",) for o in plan_json.get("output_changes", {}).values())
    return PlanSummary(tuple(changes), outputs)


# Lines of Terraform's human-readable apply/destroy stream (stable since 0.12).
_STILL = re.compile(
    r"^(?P<addr>\S+): Still (?P<verb>creating|modifying|destroying|reading)\.\.\. "
    r"\[(?:.*, )?(?P<elapsed>[\dhms.]+) elapsed\]"
)
_CREATING = re.compile(r"^(?P<addr>\S+): Creating\.\.\.")
_DONE = re.compile(
    r"^(?P<addr>\S+): (?P<what>Creation|Modifications|Destruction|Read) complete after "
    r"(?P<elapsed>[\dhms.]+)"
)
# A few commands (state rm, workspace) have no -no-color; their colour codes are removed.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PAST = {"Creation": "created", "Modifications": "modified", "Destruction": "destroyed", "Read": "read"}


class ApplyProgress:
    """Turns Terraform's apply/destroy stream into short lines: what is being created, for how long. It
    also keeps the creations started and not finished (`unfinished_creates`): after an interrupted apply,
    what AWS may hold that the state does not (adoption.py)."""

    def __init__(self, echo: Echo, total: int | None = None) -> None:
        self.echo, self.total, self.done = echo, total, 0
        self.creating: dict[str, None] = {}  # insertion-ordered set

    @property
    def unfinished_creates(self) -> list[str]:
        return list(self.creating)

    def __call__(self, line: str) -> None:
        if match := _CREATING.match(line):
            self.creating[match["addr"]] = None
        elif match := _DONE.match(line):
            if match["what"] == "Read":
                return
            if match["what"] == "Creation":
                self.creating.pop(match["addr"], None)
            self.done += 1
            count = f"[{self.done}/{self.total}] " if self.total else ""
            self.echo(f"  {count}{_PAST[match['what']]} {match['addr']} ({match['elapsed']})")
        elif match := _STILL.match(line):
            if match["verb"] != "reading":
                self.echo(f"  still {match['verb']} {match['addr']} ... ({match['elapsed']})")
        elif line.startswith(("Apply complete!", "Destroy complete!", "Interrupt received", "Stopping operation")):
            self.echo(line)


TERRAFORM_UMASK = 0o077


@dataclass
class Terraform:
    """Runs `terraform` in `working_dir` with `env` added to this process's environment.

    `log` receives every line Terraform prints (stdout and stderr) for the record in STACK_DIR;
    `verbose` streams stdout to the user as well (stderr is always shown).
    """

    working_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    verbose: bool = False
    echo: Echo = silent
    executable: str = "terraform"
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def __post_init__(self) -> None:
        found = shutil.which(self.executable)
        if not found:
            raise TerraformMissing(
                f"`{self.executable}` is not on PATH; install Terraform {TERRAFORM_REQUIREMENT} ({INSTALL_URL})"
            )
        self.executable = found

    # ---- commands -------------------------------------------------------------------------------
    def init(self, backend_config: dict[str, str]) -> None:
        args = ["init", "-input=false", "-no-color"]
        args += [f"-backend-config={key}={value}" for key, value in backend_config.items()]
        self.run(args, log=None)

    def select_workspace(self, name: str) -> None:
        """Select workspace `name`, creating it on first use."""
        self.run(["workspace", "select", "-or-create=true", name], log=None)

    def workspace_exists(self, name: str) -> bool:
        listed = self.run(["workspace", "list"], capture=True).stdout
        return name in {line.strip(" *") for line in listed.splitlines()}

    def plan(self, planfile: Path, *, destroy: bool = False, log: Echo | None = None) -> bool:
        """Write a saved plan; True when it changes anything (resources or outputs)."""
        args = ["plan", "-input=false", "-no-color", "-lock-timeout=0s", "-detailed-exitcode", f"-out={planfile}"]
        if destroy:
            args.append("-destroy")
        code = self.run(args, log=log, ok_codes=(PLAN_NO_CHANGES, PLAN_HAS_CHANGES)).returncode
        return code == PLAN_HAS_CHANGES

    def show_plan_json(self, planfile: Path) -> dict[str, Any]:
        plan: dict[str, Any] = json.loads(self.run(["show", "-json", str(planfile)], capture=True).stdout)
        return plan

    def apply_plan(self, planfile: Path, *, progress: Echo | None = None, log: Echo | None = None) -> None:
        """Apply exactly a saved plan (Terraform refuses a stale one)."""
        self.run(["apply", "-input=false", "-no-color", "-lock-timeout=0s", str(planfile)], log=log, progress=progress)

    def destroy(self, *, progress: Echo | None = None, log: Echo | None = None) -> None:
        self.run(
            ["destroy", "-input=false", "-no-color", "-lock-timeout=0s", "-auto-approve"], log=log, progress=progress
        )

    def outputs(self) -> dict[str, Any]:
        """Stack outputs as a flat name -> value mapping."""
        raw = json.loads(self.run(["output", "-json"], capture=True).stdout or "{}")
        return {name: item["value"] for name, item in raw.items()}

    def state_list(self) -> list[str]:
        result = self.run(["state", "list"], capture=True, ok_codes=(0, 1))
        if result.returncode == 1:
            if "No state file was found" in result.stderr:
                return []
            self._show_stderr(result.stderr)
            raise TerraformFailed("state list", 1, result.stderr)
        return [line for line in result.stdout.splitlines() if line.strip()]

    def import_existing(self, address: str, identifier: str) -> bool:
        """`terraform import`: True when the object exists and is now in the state, False when AWS has none."""
        result = self.run(
            ["import", "-input=false", "-no-color", "-lock-timeout=0s", address, identifier],
            capture=True,
            ok_codes=(0, 1),
        )
        if result.returncode == 0:
            return True
        if "non-existent remote object" in result.stderr:
            return False
        self._show_stderr(result.stderr)
        raise TerraformFailed("import", 1, result.stderr)

    def resource_tags(self, addresses: list[str]) -> dict[str, dict[str, str]]:
        """The AWS tags (`tags_all`) the state holds for `addresses`."""
        state = json.loads(self.run(["show", "-json"], capture=True).stdout or "{}")
        resources = state.get("values", {}).get("root_module", {}).get("resources", [])
        wanted = set(addresses)
        return {r["address"]: r["values"].get("tags_all") or {} for r in resources if r["address"] in wanted}

    def state_rm(self, addresses: list[str], *, backup: str | None = None) -> None:
        """Forget `addresses` (AWS keeps them). `backup`: where the local backend keeps the prior state
        (Terraform 1.11 ignores workspace_dir for it and fails without this)."""
        if addresses:
            self.run(
                ["state", "rm", "-lock-timeout=0s", *([f"-backup={backup}"] if backup else []), *addresses], log=None
            )

    # ---- process handling -----------------------------------------------------------------------
    def run(
        self,
        args: list[str],
        *,
        capture: bool = False,
        log: Echo | None = None,
        progress: Echo | None = None,
        ok_codes: tuple[int, ...] = (0,),
    ) -> subprocess.CompletedProcess[str]:
        """Run terraform; stream or capture its output; raise TerraformFailed outside `ok_codes`.

        capture=True keeps stdout for the caller (JSON and listings); otherwise each stdout line goes
        to `log`, to `progress`, and to the user when verbose. stderr is always kept and, unless
        captured, shown as it arrives.
        """
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", **self.env}
        command = " ".join(a for a in args[:2] if not a.startswith("-"))
        output = _RunOutput(self, capture=capture, log=log, progress=progress)
        with _forward_termination() as interrupted:
            proc = subprocess.Popen(
                [self.executable, *args],
                cwd=self.working_dir,
                env=env,
                text=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                bufsize=1,
                # Whatever Terraform writes (state, its backups, saved plans, .terraform) is the owner's
                # only: a state holds every attribute in plain text, the container environment included.
                umask=TERRAFORM_UMASK,
            )
            pumps = [
                threading.Thread(target=_pump, args=(proc.stdout, output.on_stdout), daemon=True),
                threading.Thread(target=_pump, args=(proc.stderr, output.on_stderr), daemon=True),
            ]
            for pump in pumps:
                pump.start()
            returncode = _wait_forwarding_interrupts(proc, interrupted, self.echo)
            for pump in pumps:
                pump.join()
        stdout, stderr = "".join(output.stdout_lines), "".join(output.stderr_lines)
        if interrupted:
            raise Interrupted(TERRAFORM_STOPPED)
        if returncode not in ok_codes:
            if capture:
                self._show_stderr(stderr)
            raise TerraformFailed(command, returncode, stderr)
        return subprocess.CompletedProcess(args, returncode, stdout, stderr)

    def _show_stderr(self, stderr: str) -> None:
        if stderr:
            self.err.write(stderr if stderr.endswith("\n") else stderr + "\n")
            self.err.flush()


@dataclass
class _RunOutput:
    """Where one run's output goes: captured for the caller, or to the log, progress and the user."""

    runner: Terraform
    capture: bool
    log: Echo | None
    progress: Echo | None
    stdout_lines: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)

    def on_stdout(self, line: str) -> None:
        line = _ANSI.sub("", line)
        if self.capture:
            self.stdout_lines.append(line)
            return
        if self.log:
            self.log(line)
        if self.runner.verbose:
            self.runner.echo(line.rstrip("\n"))
        elif self.progress:
            self.progress(line.rstrip("\n"))

    def on_stderr(self, line: str) -> None:
        line = _ANSI.sub("", line)
        self.stderr_lines.append(line)
        if self.log:
            self.log(line)
        if not self.capture:
            self.runner.err.write(line)
            self.runner.err.flush()


def _pump(stream: Any, sink: Echo) -> None:
    for line in iter(stream.readline, ""):
        sink(line)
    stream.close()


def _wait_forwarding_interrupts(proc: subprocess.Popen[str], interrupted: list[Any], echo: Echo) -> int:
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            interrupted.append(time.monotonic())
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                if len(interrupted) == 1:
                    echo(
                        "Interrupted: Terraform is stopping safely and saving the state; please wait "
                        "(a second interrupt forces it and may lose track of resources)."
                    )


@contextmanager
def _forward_termination() -> Iterator[list[Any]]:
    """While Terraform runs, SIGTERM/SIGHUP behave like Ctrl-C: forwarded once, then we wait for a
    clean exit. Dying instead would close Terraform's pipes and could kill it mid-write of the state."""
    interrupted: list[Any] = []
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield interrupted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
