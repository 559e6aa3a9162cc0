"""STACK_DIR: everything one deployed model leaves on the user's disk, and the lock that guards it.

    STACK_DIR/
      outputs.json            stack outputs, flat name -> value (read by `submit`, `status`, scripts)
      README.md               what was deployed and how to use it
      stack.json              which StackName/workspace this folder belongs to
      kept-resources.json     buckets `destroy` left in place (results), never forgotten
      unfinished-creates.json creations an interrupted apply started and never saw finish (adopted next time)
      stopped.json            the group's limits before `stop`, restored by `resume` (deploy refused meanwhile)
      deployed-model.yaml     a copy of the model file the last deploy applied (`report` estimates from it
                              when given no --config)
      jobs/<job>.json         the job ledger of `submit` (client/ledger.py reads and writes it, locking
                              it through its own jobs/.<job>.json.lock)
      state/<StackName>/terraform.tfstate   local backend state (workspace = StackName), and the
                              backups `destroy` takes before keeping results out of it
      terraform/              Terraform working dir: cdk.tf.json applied, .terraform/, lock file,
                              provider-mirror.tfrc
      plans/                  review.* (from `plan`) and deploy.* (last deploy): .tfplan .txt .json .meta.json
      logs/                   plan.log, apply.log, destroy.log: Terraform's full output, appended per run
      .synth/                 synthesis cache
      .lock                   held while a command changes the stack

State is never in a temporary folder nor in the synth folder: deleting `.synth` or `terraform/` loses
nothing, deleting `state/` loses track of what was deployed.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import EcsAutoscaleError
from .fileio import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, atomic_write, atomic_write_json

README_TEMPLATE = "templates/stack_readme.md.j2"
OUTPUTS_FILE = "outputs.json"
STOP_RECORD_FILE = "stopped.json"
JOBS_DIR = "jobs"
DEPLOYED_MODEL_FILE = "deployed-model.yaml"
"""The model file the last successful `deploy` applied, copied byte for byte (owner-only): `report` compares a
job with `estimate` of this model when given no --config."""
_SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

STACK_FILE = "cdk.tf.json"
"""The Terraform JSON of one stack, as cdktf names it (cdktf.out/stacks/<StackName>/cdk.tf.json): synthesis
writes it, STACK_DIR/terraform/ holds the copy Terraform applies."""


def job_file_name(job_name: str) -> str:
    """`<job>.json` for plain names; job names with spaces or slashes (ecsprocess allowed them) get a
    readable slug plus a hash, so two names never share a file."""
    if _SAFE_FILE_NAME.match(job_name) and not job_name.endswith(".json"):
        return f"{job_name}.json"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", job_name).strip("-.")[:60] or "job"
    return f"{slug}-{hashlib.sha256(job_name.encode()).hexdigest()[:10]}.json"


class StackDirBusy(EcsAutoscaleError):
    """Another ecs-autoscale process holds this STACK_DIR."""


class StackDirMismatch(EcsAutoscaleError):
    """STACK_DIR belongs to another StackName."""


class StackDirUnreadable(EcsAutoscaleError):
    """A file of STACK_DIR exists but cannot be read."""


@dataclass(frozen=True)
class StackDir:
    root: Path

    def __post_init__(self) -> None:
        # Absolute: terraform runs inside STACK_DIR/terraform, so every path handed to it (plan files,
        # CLI config) must not depend on the caller's working directory.
        object.__setattr__(self, "root", Path(self.root).absolute())

    # ---- layout ---------------------------------------------------------------------------------
    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    @property
    def stack_file(self) -> Path:
        """The synthesized stack Terraform applies (terraform/cdk.tf.json)."""
        return self.terraform_dir / STACK_FILE

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def local_backend_config(self) -> dict[str, str]:
        """-backend-config of the local backend. Relative to terraform/, so a moved or copied STACK_DIR
        keeps its state."""
        state = os.path.relpath(self.state_dir, self.terraform_dir)
        return {"path": f"{state}/terraform.tfstate", "workspace_dir": state}

    def state_backup(self, workspace: str, why: str) -> str:
        """A new backup path for `workspace`'s local state, relative to terraform/ (Terraform's cwd)."""
        state = os.path.relpath(self.state_dir, self.terraform_dir)
        return f"{state}/{workspace}/terraform.tfstate.{utc_now().replace(':', '')}.{why}.backup"

    @property
    def synth_dir(self) -> Path:
        return self.root / ".synth"

    @property
    def plans_dir(self) -> Path:
        return self.root / "plans"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def outputs_file(self) -> Path:
        return self.root / OUTPUTS_FILE

    @property
    def readme_file(self) -> Path:
        return self.root / "README.md"

    @property
    def identity_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def kept_file(self) -> Path:
        return self.root / "kept-resources.json"

    @property
    def unfinished_creates_file(self) -> Path:
        """Creations an interrupted apply started and never saw finish (adoption.py)."""
        return self.root / "unfinished-creates.json"

    @property
    def stop_record_file(self) -> Path:
        return self.root / STOP_RECORD_FILE

    @property
    def deployed_model_file(self) -> Path:
        return self.root / DEPLOYED_MODEL_FILE

    def record_deployed_model(self, model_text: bytes) -> None:
        """Keep the model file just deployed (DEPLOYED_MODEL_FILE)."""
        atomic_write(self.deployed_model_file, model_text, private=True)

    def deployed_model(self) -> Path | None:
        """The copy of the model file the last deploy applied, if one was kept."""
        return self.deployed_model_file if self.deployed_model_file.is_file() else None

    @property
    def jobs_dir(self) -> Path:
        return self.root / JOBS_DIR

    def job_file(self, job: str) -> Path:
        return self.jobs_dir / job_file_name(job)

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def cli_config_file(self) -> Path:
        """Generated Terraform CLI configuration (provider mirror); Terraform ignores non-.tf files."""
        return self.terraform_dir / "provider-mirror.tfrc"

    def plan_files(self, kind: str) -> PlanFiles:
        """kind 'review' (the `plan` command) or 'deploy' (the plan a deploy applied)."""
        return PlanFiles(self.plans_dir, kind)

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    # ---- identity: one StackName per folder ------------------------------------------------------
    def claim(self, stack_name: str, backend: str) -> None:
        """Record which stack this folder holds; refuse a folder that holds another one."""
        current = self.identity()
        if current and current.get("stack_name") != stack_name:
            raise StackDirMismatch(
                f"{self.root} holds stack {current.get('stack_name')!r}, not {stack_name!r} "
                f"(use one STACK_DIR per model, e.g. stacks/{stack_name})"
            )
        if current != {"stack_name": stack_name, "workspace": stack_name, "backend": backend}:
            atomic_write_json(
                self.identity_file,
                {"stack_name": stack_name, "workspace": stack_name, "backend": backend},
                private=True,
            )

    def identity(self) -> dict | None:
        try:
            return json.loads(self.identity_file.read_text())
        except FileNotFoundError:
            return None

    # ---- outputs, README, kept resources ---------------------------------------------------------
    def write_outputs(self, outputs: dict[str, Any]) -> None:
        atomic_write_json(self.outputs_file, outputs, private=True)

    def write_readme(self, **context: Any) -> None:
        import jinja2

        template = resources.files("ecs_autoscale").joinpath(README_TEMPLATE).read_text()
        env = jinja2.Environment(
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        text = env.from_string(template).render(stack_dir=self.root, **context)
        atomic_write(self.readme_file, text.encode())

    def kept_resources(self) -> list[dict]:
        try:
            return json.loads(self.kept_file.read_text())["kept"]
        except FileNotFoundError:
            return []

    def record_kept(self, entries: list[dict]) -> None:
        """Append (never replace) records of resources left in AWS on purpose."""
        known = self.kept_resources()
        seen = {(e.get("stack_name"), e.get("name")) for e in known}
        new = [e for e in entries if (e.get("stack_name"), e.get("name")) not in seen]
        if new:
            atomic_write_json(self.kept_file, {"kept": known + new}, private=True)

    # ---- creations an interrupted apply may have left outside the state ---------------------------
    def unfinished_creates(self) -> list[str]:
        try:
            addresses: list[str] = json.loads(self.unfinished_creates_file.read_text())["addresses"]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError) as exc:
            raise StackDirUnreadable(
                f"{self.unfinished_creates_file} cannot be read ({exc})",
                "restore it, or delete it to plan without adopting what an interrupted apply created",
            ) from None
        return addresses

    def record_unfinished_creates(self, addresses: list[str]) -> None:
        """Add to (never replace) the record: two interrupted applies in a row leave both sets."""
        merged = list(dict.fromkeys([*self.unfinished_creates(), *addresses]))
        if merged:
            atomic_write_json(self.unfinished_creates_file, {"addresses": merged, "recorded": utc_now()}, private=True)

    def clear_unfinished_creates(self) -> None:
        self.unfinished_creates_file.unlink(missing_ok=True)

    # ---- the stop record ------------------------------------------------------------------------
    def read_stop_record(self) -> dict[str, Any] | None:
        """What `stop` changed (None: not stopped from here)."""
        try:
            record: dict[str, Any] = json.loads(self.stop_record_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StackDirUnreadable(
                f"{self.stop_record_file}: unreadable ({exc}); it records the settings `resume` restores - fix or "
                "remove it (resume then falls back to the stack's defaults)"
            ) from None
        return record

    def write_stop_record(self, record: dict[str, Any]) -> None:
        atomic_write_json(self.stop_record_file, record, private=True)

    def clear_stop_record(self) -> None:
        self.stop_record_file.unlink(missing_ok=True)

    def append_log(self, name: str) -> RunLog:
        return RunLog(self.log_file(name))

    # ---- owner only ---------------------------------------------------------------------------
    def make_private(self) -> None:
        """STACK_DIR and what can hold state or secrets in it readable by the owner only: the folder
        itself 0700; state (and its backups), plans (binary, text, JSON), logs, job ledgers, the
        records at the top and the synthesized stack (the container environment) 0600 in 0700 folders.
        New files are written so (private writes, terraform under umask 077: deployment/terraform.py);
        this pass tightens a STACK_DIR made by an earlier version. Provider binaries keep their modes."""
        self.root.chmod(PRIVATE_DIR_MODE)
        for folder in (self.state_dir, self.plans_dir, self.logs_dir, self.jobs_dir):
            if folder.is_dir() and not folder.is_symlink():
                _make_tree_private(folder)
        for folder in (self.root, self.terraform_dir):
            if folder.is_dir():
                for path in folder.iterdir():
                    if path.is_file() and not path.is_symlink():
                        path.chmod(PRIVATE_FILE_MODE)

    # ---- lock -----------------------------------------------------------------------------------
    @contextmanager
    def locked(self, command: str) -> Iterator[None]:
        """Hold the folder's lock for the whole command; a second process fails at once.

        flock is released by the kernel when the process dies, so a crashed run never leaves a stale
        lock; Terraform's own state lock still guards the state underneath (and across machines with
        the S3 backend).
        """
        self.root.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        self.make_private()
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
                raise StackDirBusy(
                    f"{self.root} is in use by {holder}; wait for it to finish (nothing was changed)"
                ) from None
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"`ecs-autoscale {command}` (pid {os.getpid()}, since {utc_now()})\n".encode(), 0)
            except OSError as exc:  # e.g. a full disk: stop before Terraform fails to save a state
                raise OSError(exc.errno, exc.strerror, str(self.lock_file)) from None
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class PlanFiles:
    folder: Path
    kind: str

    @classmethod
    def of(cls, planfile: Path) -> PlanFiles:
        """The files saved with `planfile` (any name: `deploy PLANFILE` accepts a plan kept elsewhere)."""
        return cls(planfile.parent, planfile.stem)

    @property
    def binary(self) -> Path:
        return self.folder / f"{self.kind}.tfplan"

    @property
    def text(self) -> Path:
        return self.folder / f"{self.kind}.txt"

    @property
    def json(self) -> Path:
        return self.folder / f"{self.kind}.json"

    @property
    def meta(self) -> Path:
        return self.folder / f"{self.kind}.meta.json"


def _make_tree_private(folder: Path) -> None:
    folder.chmod(PRIVATE_DIR_MODE)
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(PRIVATE_DIR_MODE if path.is_dir() else PRIVATE_FILE_MODE)


class RunLog:
    """Append-only log of one command's Terraform output, with a header per run (owner only: a plan's
    output shows the container environment)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
        os.fchmod(fd, PRIVATE_FILE_MODE)
        self._handle = open(fd, "a", encoding="utf-8")

    def section(self, title: str) -> None:
        self._handle.write(f"\n===== {utc_now()} {title} =====\n")
        self._handle.flush()

    def __call__(self, line: str) -> None:
        self._handle.write(line if line.endswith("\n") else line + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def utc_now() -> str:
    """The timestamp of every record written into STACK_DIR (lock, logs, plans, ledger, stop record)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
