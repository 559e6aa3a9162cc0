"""Real `terraform init` (provider only from the local mirror, no network) and `terraform validate`
of every example's synthesized stack. Missing terraform or mirror fails these tests; it never skips."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import (
    MIRRORED_PROVIDER,
    MIRRORED_VERSION,
    example_files,
    product_synth,
    terraform_env,
)

from ecs_autoscale.model.config import load_config

EXAMPLES = example_files()


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    """{example file name: cdk.tf.json} for every example, synthesized together once."""
    configs = {path.name: load_config(path) for path in EXAMPLES}
    paths = product_synth(list(configs.values()), tmp_path_factory.mktemp("synth"))
    return {name: paths[config.stack_name] for name, config in configs.items()}


@pytest.mark.parametrize("example", [p.name for p in EXAMPLES])
def test_example_inits_from_the_mirror_and_validates(example, synthesized, terraform_cli, tmp_path):
    workdir = tmp_path / "stack"
    workdir.mkdir()
    shutil.copy(synthesized[example], workdir / "cdk.tf.json")
    env = terraform_env(tmp_path)

    terraform_cli(["init", "-backend=false", "-input=false", "-no-color"], workdir, env)
    lock = (workdir / ".terraform.lock.hcl").read_text()
    assert f'provider "{MIRRORED_PROVIDER}"' in lock
    assert f'version     = "{MIRRORED_VERSION}"' in lock

    result = json.loads(terraform_cli(["validate", "-json", "-no-color"], workdir, env, ok_codes=(0, 1)).stdout)
    problems = [
        f"{d['severity']}: {d['summary']}: {d.get('detail', '')} @ {d.get('address') or d.get('range')}"
        for d in result["diagnostics"]
    ]
    assert result["valid"], "\n".join(problems)
    assert result["warning_count"] == 0, "\n".join(problems)
