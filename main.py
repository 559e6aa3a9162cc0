"""cdktf entry point (`cdktf synth` / `cdktf deploy`): one TerraformStack per model YAML.

Which files: the cdktf context key `models` (`cdktf synth --context models=a.yaml,b.yaml` is not
supported by cdktf-cli, so set it in cdktf.json "context"), else the environment variable
ECS_AUTOSCALE_MODELS (comma-separated paths or globs), else `examples/*.yaml`.
"""

import glob
import os
import sys

from ecs_autoscale.model.config import ConfigError, load_config

DEFAULT_MODELS = "examples/*.yaml"


def model_files(patterns: str) -> list[str]:
    files = []
    for pattern in filter(None, (p.strip() for p in patterns.split(","))):
        matched = sorted(glob.glob(pattern)) or ([pattern] if not glob.has_magic(pattern) else [])
        files.extend(matched)
    return files


def main() -> None:
    from ecs_autoscale.synthesis.constructs.stack import (
        VideoProcessingStack,  # first: starts jsii with the fast provider loading
    )

    # isort: split
    from cdktf import App

    app = App()
    patterns = app.node.try_get_context("models") or os.environ.get("ECS_AUTOSCALE_MODELS") or DEFAULT_MODELS
    files = model_files(patterns)
    if not files:
        sys.exit(f"main.py: no model files match {patterns!r} (set ECS_AUTOSCALE_MODELS)")
    try:
        configs = [load_config(f) for f in files]
    except ConfigError as exc:
        sys.exit(str(exc))
    for config in configs:
        VideoProcessingStack(app, config)
    app.synth()


if __name__ == "__main__":
    main()
