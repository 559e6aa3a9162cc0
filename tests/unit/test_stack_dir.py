"""STACK_DIR's layout is named in stack_dir.py only: the paths other modules ask it for."""

from __future__ import annotations

from pathlib import Path

from ecs_autoscale.stack_dir import PlanFiles, StackDir


def test_plan_files_of_any_planfile_sit_next_to_it(tmp_path: Path) -> None:
    for planfile in (tmp_path / "plans" / "review.tfplan", tmp_path / "kept" / "my.plan.tfplan", tmp_path / "bare"):
        files = PlanFiles.of(planfile)
        assert files.meta == planfile.with_name(f"{planfile.stem}.meta.json")
        assert files.json == planfile.with_suffix(".json")
    assert PlanFiles.of(StackDir(tmp_path).plan_files("review").binary) == StackDir(tmp_path).plan_files("review")


def test_state_paths_are_relative_to_the_terraform_dir(tmp_path: Path) -> None:
    sd = StackDir(tmp_path)
    assert sd.local_backend_config() == {"path": "../state/terraform.tfstate", "workspace_dir": "../state"}
    backup = sd.state_backup("Megadetector", "before-keeping-results")
    assert backup.startswith("../state/Megadetector/terraform.tfstate.")
    assert backup.endswith(".before-keeping-results.backup") and ":" not in backup
    assert (sd.terraform_dir / backup).resolve().parent == (sd.state_dir / "Megadetector").resolve()
    assert sd.stack_file == sd.terraform_dir / "cdk.tf.json"
