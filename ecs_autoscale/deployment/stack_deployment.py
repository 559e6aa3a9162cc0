"""One model's deployment in one STACK_DIR: synthesize, init, workspace, plan, apply, outputs, destroy.

The CLI (cli/lifecycle.py) adds confirmation and error wording; this module does the work in an order
that never loses the user's data: plans are saved before they are applied, outputs and README are
written atomically after every change, and `destroy` records what it keeps before it removes anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..aws_target import AwsTarget
from ..echo import Echo, silent
from ..errors import EcsAutoscaleError
from ..fileio import PRIVATE_DIR_MODE, atomic_write, atomic_write_json
from ..group import POOL_TERMINATING, release_warm_pool_terminating, warm_pool_instances
from ..model.config import ModelConfig
from ..stack_dir import PlanFiles, StackDir, utc_now
from .adoption import Adoption, aws_lookup
from .terraform import ApplyProgress, PlanSummary, Terraform, provider_mirror_config, summarize_plan

if TYPE_CHECKING:
    from .teardown import DestroyOptions, DestroyPlan, StackTeardown


POOL_RELEASE_WAIT_SECONDS = 300.0
"""How long `deploy` waits, after the apply, for the instance refresh to reach the stale warm-pool instances
of an idle group (AWS starts the refresh the apply asked for in the background)."""
ACTIVE_REFRESH = ("Pending", "InProgress")


class NothingDeployed(EcsAutoscaleError):
    pass


class PlanRejected(EcsAutoscaleError):
    """A saved plan that must not be applied (other stack, changed model, edited, already applied)."""


@dataclass
class Deployment:
    config: ModelConfig
    config_path: Path
    stack_dir: StackDir
    target: AwsTarget = field(default_factory=AwsTarget)
    verbose: bool = False
    echo: Echo = silent

    @property
    def name(self) -> str:
        return self.config.stack_name

    @property
    def backend_kind(self) -> str:
        return "s3" if self.config.backend else "local"

    # ---- preparing the Terraform working dir -----------------------------------------------------
    def prepare(self, *, create_workspace: bool = True) -> Terraform:
        """Synthesize into STACK_DIR, `terraform init` and select the StackName workspace."""
        from ..synthesis.synth import synthesize

        sd = self.stack_dir
        sd.claim(self.name, self.backend_kind)
        synthesized = synthesize([self.config], sd.synth_dir)[0].path.read_bytes()
        _write_if_changed(sd.stack_file, synthesized)
        cli_config = None
        if self.target.provider_mirror:
            cli_config = sd.cli_config_file
            _write_if_changed(cli_config, provider_mirror_config(self.target.provider_mirror.resolve()).encode())
        tf = Terraform(
            sd.terraform_dir, env=self.target.terraform_env(cli_config), verbose=self.verbose, echo=self.echo
        )
        tf.init(self.backend_config())
        if not create_workspace and not tf.workspace_exists(self.name):
            raise NothingDeployed(
                f"nothing of {self.name} is deployed from {sd.root} "
                f"(run `ecs-autoscale deploy {self.config_path} {sd.root}`)"
            )
        tf.select_workspace(self.name)
        return tf

    def require_deployed_here(self) -> None:
        """Refuse (creating nothing) a STACK_DIR that never held a deployment of this model. With an S3
        backend the state is shared, so any folder will do (e.g. a teammate's fresh STACK_DIR)."""
        if self.config.backend is None and self.stack_dir.identity() is None:
            raise NothingDeployed(
                f"{self.stack_dir.root} holds no deployment (no stack.json): check the path, "
                f"or deploy first with `ecs-autoscale deploy {self.config_path} "
                f"{self.stack_dir.root}`"
            )

    def backend_config(self) -> dict[str, str]:
        if self.config.backend is None:
            return self.stack_dir.local_backend_config()
        if self.target.endpoint_url:
            # Emulators serve buckets by path, not by virtual host name.
            return {"use_path_style": "true"}
        return {}

    def synthesized_json(self) -> dict:
        return json.loads(self.stack_dir.stack_file.read_text())

    # ---- plans ----------------------------------------------------------------------------------
    def make_plan(self, tf: Terraform, files: PlanFiles, *, destroy: bool = False) -> PlanSummary:
        """Write a saved plan with its text and JSON forms; a half-written plan never replaces a good one."""
        files.folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        partial = files.binary.with_name(f".{files.binary.name}.partial")
        self.echo(f"Planning {self.name} (reading the deployed state) ...")
        started = time.monotonic()
        plan_output: list[str] = []  # terraform's own plan text: no second `terraform show` (~2.5 s)

        def keep(line: str) -> None:
            plan_output.append(line if line.endswith("\n") else line + "\n")
            log(line)

        with self.stack_dir.append_log("plan") as log:
            log.section(f"plan {self.name}{' -destroy' if destroy else ''}")
            tf.plan(partial, destroy=destroy, log=keep)
        os.replace(partial, files.binary)
        as_json = tf.show_plan_json(files.binary)
        atomic_write(files.text, "".join(plan_output).replace(str(partial), str(files.binary)).encode(), private=True)
        atomic_write_json(files.json, as_json, private=True)
        summary = summarize_plan(as_json)
        self.echo(
            f"Plan for {self.name}: {summary.headline()}"
            f"{' (outputs change)' if summary.output_changes and not summary.has_resource_changes else ''}"
            f" [{_seconds(started)}; full plan: {files.text}]"
        )
        for symbol, address in summary.changes:
            self.echo(f"  {symbol:>3} {address}")
        replaced = [a for s, a in summary.changes if s != "+" and s != "~"]
        if replaced:
            self.echo(f"  ! {len(replaced)} resource(s) will be destroyed or replaced: review {files.text}")
        return summary

    def save_review_plan(self, tf: Terraform) -> PlanSummary:
        files = self.stack_dir.plan_files("review")
        summary = self.make_plan(tf, files)
        atomic_write_json(
            files.meta,
            {
                "stack_name": self.name,
                "workspace": self.name,
                "stack_sha256": self._stack_sha256(),
                "config_path": str(self.config_path),
                "plan_sha256": _sha256(files.binary),
                "created": utc_now(),
                "applied": None,
                "summary": summary.headline(),
            },
            private=True,
        )
        return summary

    def _stack_sha256(self) -> str:
        return _sha256(self.stack_dir.stack_file)

    def check_review_plan(self, planfile: Path) -> dict:
        """The saved plan's record, after checking it is this model's unchanged, unapplied plan.
        Call after `prepare()`: "unchanged" means the model still synthesizes to the Terraform planned."""
        meta_path = PlanFiles.of(planfile).meta
        if not planfile.is_file():
            raise PlanRejected(
                f"{planfile}: no such plan file (make one with `ecs-autoscale plan "
                f"{self.config_path} {self.stack_dir.root}`)"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            raise PlanRejected(
                f"{planfile}: not a plan saved by `ecs-autoscale plan` (no readable {meta_path.name})"
            ) from None
        if meta.get("stack_name") != self.name:
            raise PlanRejected(f"{planfile} is a plan of {meta.get('stack_name')!r}, not of {self.name!r}")
        if meta.get("plan_sha256") != _sha256(planfile):
            raise PlanRejected(f"{planfile} changed after it was saved; run `ecs-autoscale plan` again")
        if meta.get("stack_sha256") != self._stack_sha256():
            raise PlanRejected(
                f"{self.config_path} (or ecs-autoscale) changed since {planfile} was saved: it no "
                "longer gives the Terraform that was planned; run `ecs-autoscale plan` again"
            )
        if meta.get("applied"):
            raise PlanRejected(
                f"{planfile} was already applied at {meta['applied']}; run `ecs-autoscale plan` again for new changes"
            )
        return meta

    def mark_applied(self, planfile: Path, meta: dict) -> None:
        atomic_write_json(PlanFiles.of(planfile).meta, {**meta, "applied": utc_now()}, private=True)

    # ---- apply and outputs ----------------------------------------------------------------------
    def apply(self, tf: Terraform, planfile: Path, summary: PlanSummary | None) -> None:
        """Apply `planfile`; when the apply stops part-way (Ctrl-C, a lost network), record the creations
        it started and never saw finish, for the next deploy to adopt (adoption.py)."""
        self.echo(f"Applying {planfile.name} to {self.name} (log: {self.stack_dir.log_file('apply')}) ...")
        progress = ApplyProgress(self.echo, total=len(summary.changes) if summary else None)
        with self.stack_dir.append_log("apply") as log:
            log.section(f"apply {planfile} to {self.name}")
            try:
                tf.apply_plan(planfile, progress=progress, log=log)
            finally:
                self.stack_dir.record_unfinished_creates(progress.unfinished_creates)

    def adopt_unfinished_creates(self, tf: Terraform) -> None:
        """Before planning: import what an earlier interrupted apply created but could not record."""
        recorded = self.stack_dir.unfinished_creates()
        if not recorded:
            return
        self.echo(f"An earlier apply of {self.name} stopped part-way: adopting what it may have created ...")
        adoption = Adoption(
            terraform=tf,
            stack_name=self.name,
            resources=self.synthesized_json().get("resource", {}),
            lookup=aws_lookup(lambda service: self.target.client(service, self.config.region), self.name),
            echo=self.echo,
        )
        adopted = adoption.run(recorded)
        self.stack_dir.clear_unfinished_creates()
        self.echo(f"Adopted {len(adopted)} resource(s) into the state.")

    def refresh_outputs(self, tf: Terraform) -> dict[str, Any]:
        """Read outputs from the state; write outputs.json and README.md."""
        outputs = tf.outputs()
        if not outputs:
            raise NothingDeployed(
                f"the state of {self.name} has no outputs: nothing is deployed from "
                f"{self.stack_dir.root} (run `ecs-autoscale deploy {self.config_path} "
                f"{self.stack_dir.root}`)"
            )
        self.stack_dir.write_outputs(outputs)
        self.write_readme(status="deployed", outputs=outputs)
        return outputs

    # ---- after the apply: the warm pool's stale instances ---------------------------------------------
    def release_stale_warm_pool(
        self, wait_seconds: float = POOL_RELEASE_WAIT_SECONDS, poll_seconds: float = 5.0
    ) -> list[str]:
        """Let the instance refresh's stale warm-pool instances go now; returns the instances released.

        A launch template change starts an instance refresh (fleet.py) that replaces the warm pool's
        instances after the group's own, each through the termination hook. A Stopped pool instance runs no
        agent and holds no worker, so nothing completes its hook: each would wait the hook's heartbeat
        timeout (30 minutes) in Warmed:Terminating:Wait (group.POOL_TERMINATING). This completes the hook
        with CONTINUE for them, waiting up to `wait_seconds` for the refresh to reach them while the group
        has no instance of its own left to replace (an idle group, as after most deploys); with busy
        instances still to replace it says so and leaves the rest to the heartbeat timeout or the next deploy.
        """
        if not self.config.warm_pool:
            return []
        from ..model.scaling_design import design_for

        asg = self.target.client("autoscaling", self.config.region)
        group_name, hook = self.config.names.asg, self.config.names.termination_hook
        rerun = f"run `ecs-autoscale deploy {self.config_path} {self.stack_dir.root}` again"
        otherwise = (
            f"or each waits its termination hook's heartbeat timeout "
            f"({design_for(self.config).termination_heartbeat_seconds // 60} minutes) before it goes"
        )
        started, released = time.monotonic(), []
        while True:
            released += release_warm_pool_terminating(asg, group_name, hook)
            stale, live_stale, refreshing = self._stale_instances(asg, group_name)
            if not stale or not refreshing:
                break
            if live_stale:
                self.echo(
                    f"The instance refresh of {group_name} replaces {live_stale} instance(s) in service first "
                    f"(each when its workers are quiet), then {stale} stale warm-pool instance(s): {rerun} "
                    f"after that, {otherwise}."
                )
                break
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                self.echo(
                    f"{stale} stale warm-pool instance(s) of {group_name} not yet reached by its instance refresh "
                    f"after {waited:.0f}s: {rerun} later, {otherwise}."
                )
                break
            time.sleep(poll_seconds)
        if released:
            self.echo(
                f"Released {len(released)} stale warm-pool instance(s) from the termination hook "
                f"{hook} (stopped: no worker to drain): {', '.join(released)}"
            )
        return released

    @staticmethod
    def _stale_instances(asg: Any, group_name: str) -> tuple[int, int, bool]:
        """(warm-pool instances on an older launch template version not yet leaving, the group's own such
        instances, leaving or not (the refresh reaches the pool once they are gone), whether an instance
        refresh is active)."""
        groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
        if not groups:
            return 0, 0, False
        current = str((groups[0].get("LaunchTemplate") or {}).get("Version", ""))

        def stale(instances: list[dict[str, Any]], *, leaving_too: bool) -> int:
            return sum(
                1
                for i in instances
                if str((i.get("LaunchTemplate") or {}).get("Version", current)) != current
                and (leaving_too or "Terminat" not in i.get("LifecycleState", ""))
            )

        pool = warm_pool_instances(asg, group_name)
        refreshes = asg.describe_instance_refreshes(AutoScalingGroupName=group_name, MaxRecords=1)
        refreshing = any(r.get("Status") in ACTIVE_REFRESH for r in refreshes.get("InstanceRefreshes", []))
        waiting = sum(1 for i in pool if i.get("LifecycleState") == POOL_TERMINATING)
        live = groups[0].get("Instances", [])
        return stale(pool, leaving_too=False) + waiting, stale(live, leaving_too=True), refreshing

    def remember_model(self) -> None:
        """After a deploy: keep the model file it applied in STACK_DIR, for `report` (DEPLOYED_MODEL_FILE)."""
        self.stack_dir.record_deployed_model(self.config_path.read_bytes())

    def write_readme(self, *, status: str, outputs: dict | None) -> None:
        self.stack_dir.write_readme(
            config=self.config,
            config_path=self.config_path,
            status=status,
            outputs=outputs or {},
            kept=self.stack_dir.kept_resources(),
            endpoint_url=self.target.endpoint_url,
            updated=utc_now(),
        )

    # ---- destroy --------------------------------------------------------------------------------
    def plan_destroy(self, tf: Terraform, options: DestroyOptions) -> DestroyPlan | None:
        """What a destroy would remove and keep (None: the state manages nothing); changes nothing."""
        from .teardown import plan_destroy

        managed = [a for a in tf.state_list() if not a.startswith("data.")]
        if not managed:
            return None
        try:
            outputs = tf.outputs()
        except Exception:  # a state without outputs (interrupted first apply): the guards find the names
            outputs = {}
        return plan_destroy(self._teardown(outputs), managed, options)

    def run_destroy(self, tf: Terraform, plan: DestroyPlan) -> None:
        """Carry out `plan`: fleet to zero (waiting), leftover container instances deregistered, the kept
        bucket recorded, buckets emptied when asked, then `terraform destroy`."""
        teardown = self._teardown(dict(plan.outputs))
        teardown.scale_to_zero(plan.options.instance_wait_seconds)
        teardown.deregister_container_instances()
        if plan.keep:
            self.stack_dir.record_kept(
                [
                    {
                        "stack_name": self.name,
                        "region": self.config.region,
                        "resource": "s3 bucket (results)",
                        "name": plan.tracks_bucket,
                        "addresses": list(plan.keep),
                        "kept_at": utc_now(),
                        "delete_with": f"aws s3 rb s3://{plan.tracks_bucket} --force (after deleting all versions)",
                    }
                ]
            )
        if plan.deletes_results and plan.tracks_bucket:
            self.echo(f"Deleted {teardown.empty_bucket(plan.tracks_bucket)} object versions from {plan.tracks_bucket}.")
        if plan.first_upload and plan.options.delete_uploaded_videos and plan.video_bucket:
            self.echo(f"Deleted {teardown.empty_bucket(plan.video_bucket)} object versions from {plan.video_bucket}.")
        self.destroy(tf, keep=list(plan.keep), progress_total=len(plan.removing))
        self.after_destroy()

    def _teardown(self, outputs: dict) -> StackTeardown:
        from .teardown import StackTeardown

        return StackTeardown(target=self.target, config=self.config, outputs=outputs, echo=self.echo)

    def destroy(self, tf: Terraform, *, keep: list[str], progress_total: int) -> None:
        """Remove `keep` from the state (AWS keeps them), then destroy everything else."""
        if keep:
            backup = None
            if self.config.backend is None:
                backup = self.stack_dir.state_backup(self.name, "before-keeping-results")
            tf.state_rm(keep, backup=backup)
        with self.stack_dir.append_log("destroy") as log:
            log.section(f"destroy {self.name} (kept out of the state: {', '.join(keep) or 'nothing'})")
            tf.destroy(progress=ApplyProgress(self.echo, total=progress_total), log=log)

    def kept_by_earlier_destroys(self, plan: DestroyPlan) -> list[str]:
        """Resources of this stack an earlier destroy left in AWS (not the one `plan` just kept)."""
        return [
            k["name"]
            for k in self.stack_dir.kept_resources()
            if k.get("stack_name") == self.name and not (plan.keep and k["name"] == plan.tracks_bucket)
        ]

    def after_destroy(self) -> None:
        """outputs.json described resources that are gone: remove it so no client sends videos to them."""
        self.stack_dir.outputs_file.unlink(missing_ok=True)
        self.write_readme(status="destroyed", outputs=None)


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    atomic_write(path, data, private=True)  # the stack's JSON carries the container environment


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _seconds(started: float) -> str:
    return f"{time.monotonic() - started:.0f}s"
