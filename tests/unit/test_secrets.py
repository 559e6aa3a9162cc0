"""Secrets by reference: `Secrets:` in the model file (NAME -> full ARN of an SSM parameter or a Secrets
Manager secret, optional `SecretsKmsKey`) becomes the container's `secrets` (valueFrom), and the task's
execution role may read exactly those ARNs (and decrypt with that key, only through SSM and Secrets
Manager). `validate` warns, without failing, about an Environment name that looks like a secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import load_text, only_resource, product_synth, seed_text, write_model

from ecs_autoscale.model.yaml_source import ConfigError

PARAMETER = "arn:aws:ssm:us-west-2:123456789012:parameter/lab/results-db/token"
SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:lab/results-db-AbC123"
KEY = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRETS_YAML = f'\n  DB_TOKEN: {PARAMETER}\n  DB_PASSWORD: "{SECRET}:password::"'


def config_with(tmp_path: Path, **keys: str):
    return load_text(tmp_path, seed_text(**keys))


def test_secrets_and_key_load_as_written(tmp_path):
    config = config_with(tmp_path, Secrets=SECRETS_YAML, SecretsKmsKey=KEY)
    assert config.secrets == {"DB_TOKEN": PARAMETER, "DB_PASSWORD": f"{SECRET}:password::"}
    assert config.secrets_kms_key == KEY


@pytest.mark.parametrize(
    ("keys", "complaint"),
    [
        (
            {"Secrets": "\n  DB_TOKEN: lab/results-db/token"},
            "Secrets.DB_TOKEN: 'lab/results-db/token' is not the full ARN",
        ),
        (  # a secret ARN without the 6 characters Secrets Manager appends: IAM would not match it
            {"Secrets": "\n  DB_TOKEN: arn:aws:secretsmanager:us-west-2:123456789012:secret:lab/results-db"},
            "is not the full ARN",
        ),
        ({"Secrets": f"\n  DB_TOKEN: {PARAMETER.replace('ssm', 's3')}"}, "is not the full ARN"),
        ({"Secrets": f"\n  DB_TOKEN: {PARAMETER.replace('123456789012', '1234')}"}, "is not the full ARN"),
        ({"Secrets": f"\n  1TOKEN: {PARAMETER}"}, "Secrets.1TOKEN: not a valid environment variable name"),
        ({"Secrets": f"\n  VIDEO_QUEUE: {PARAMETER}"}, "Secrets.VIDEO_QUEUE: set by the stack"),
        (
            {"Secrets": f"\n  DB_TOKEN: {PARAMETER.replace('us-west-2', 'cn-north-1')}"},
            "partition 'aws' does not hold region cn-north-1",
        ),
        (
            {"Secrets": f"\n  DB_TOKEN: {PARAMETER}", "Environment": "\n  DB_TOKEN: plain"},
            "Secrets: DB_TOKEN is also in Environment",
        ),
        ({"SecretsKmsKey": KEY}, "SecretsKmsKey: no Secrets use it"),
        (
            {"Secrets": f"\n  DB_TOKEN: {PARAMETER}", "SecretsKmsKey": KEY.replace("us-west-2", "eu-west-1")},
            "a KMS key decrypts only in its own region",
        ),
        (
            {"Secrets": f"\n  DB_TOKEN: {PARAMETER}", "SecretsKmsKey": "arn:aws:kms:us-west-2:123456789012:alias/lab"},
            "SecretsKmsKey: 'arn:aws:kms:us-west-2:123456789012:alias/lab' is not a KMS key ARN",
        ),
    ],
)
def test_bad_secrets_are_one_line_naming_the_key(tmp_path, keys, complaint):
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, **keys)
    line = str(caught.value)
    assert complaint in line and "\n" not in line, line
    assert line.startswith(str(tmp_path / "model.yaml") + ":")


def test_validate_warns_about_secret_looking_environment_names_and_still_passes(tmp_path):
    from ecs_autoscale.cli.core import validate

    model = write_model(
        tmp_path, seed_text(Environment="\n  HF_TOKEN: abc\n  LOG_LEVEL: INFO\n  API_KEY: x\n  KEYWORDS: y")
    )
    result = CliRunner().invoke(validate, [str(model)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{model}: ok")
    warnings = result.stderr.splitlines()
    assert [w.split(": ")[1] for w in warnings] == ["Environment.HF_TOKEN", "Environment.API_KEY"]
    assert all("warning: looks like a secret" in w and "Secrets:" in w for w in warnings)
    lines = model.read_text().splitlines()
    assert lines[int(warnings[0].split(":")[1]) - 1].strip() == "HF_TOKEN: abc"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HF_TOKEN", True),
        ("APITOKEN", True),
        ("DBPASSWORD", True),
        ("DB_PASSWD", True),
        ("CLIENTSECRET", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("API_KEY", True),
        ("APIKEY", True),
        ("SSHKEY_PATH", True),
        ("api_key", True),
        # not secrets: counts and tokenizer settings, words that merely contain KEY
        ("MAX_NEW_TOKENS", False),
        ("TOKENIZERS_PARALLELISM", False),
        ("KEYWORDS", False),
        ("KEYFRAME_INTERVAL", False),
        ("MONKEY", False),
        ("MONKEY_PATCH", False),
        ("LOG_LEVEL", False),
    ],
)
def test_secret_looking_names(name, secret):
    from ecs_autoscale.model.config import looks_secret

    assert looks_secret(name) is secret


def test_no_warning_without_secret_looking_names():
    from helpers import SEED

    from ecs_autoscale.cli.core import validate

    result = CliRunner().invoke(validate, [str(SEED)])
    assert result.exit_code == 0 and result.stderr == ""


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("secrets")
    config = load_text(folder, seed_text(Secrets=SECRETS_YAML, SecretsKmsKey=KEY))
    path = product_synth([config], folder / "out")[config.stack_name]
    return json.loads(Path(path).read_text())


def test_container_gets_secrets_by_reference_and_no_value(synthesized):
    task = only_resource(synthesized, "aws_ecs_task_definition")
    [container] = json.loads(task["container_definitions"])
    assert container["secrets"] == [
        {"name": "DB_PASSWORD", "valueFrom": f"{SECRET}:password::"},
        {"name": "DB_TOKEN", "valueFrom": PARAMETER},
    ]
    assert not {"DB_PASSWORD", "DB_TOKEN"} & {e["name"] for e in container["environment"]}


def test_execution_role_reads_exactly_those_secrets_and_decrypts_only_through_ssm_and_secrets_manager(
    synthesized,
):
    roles = synthesized["resource"]["aws_iam_role"]
    execution = next(n for n, r in roles.items() if r["name"].endswith("-execution"))
    [policy] = [
        p
        for p in synthesized["resource"]["aws_iam_role_policy"].values()
        if p["role"] == f"${{aws_iam_role.{execution}.id}}"
    ]
    by_sid = {st["Sid"]: st for st in json.loads(policy["policy"])["Statement"]}
    assert by_sid["ReadSecretParameters"]["Action"] == ["ssm:GetParameters"]
    assert by_sid["ReadSecretParameters"]["Resource"] == [PARAMETER]
    assert by_sid["ReadSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert by_sid["ReadSecrets"]["Resource"] == [SECRET]  # the secret, not its json-key suffix
    assert by_sid["DecryptSecrets"] == {
        "Sid": "DecryptSecrets",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [KEY],
        "Condition": {
            "StringEquals": {
                "kms:ViaService": ["secretsmanager.us-west-2.amazonaws.com", "ssm.us-west-2.amazonaws.com"]
            }
        },
    }
    # the task role (the model's code) and the instance role get none of it
    others = [p["policy"] for p in synthesized["resource"]["aws_iam_role_policy"].values() if p is not policy]
    assert not any(word in text for text in others for word in ("ssm:GetParameters", "secretsmanager:", "kms:"))


def test_the_lookup_record_carries_no_secret_reference(synthesized):
    stack = only_resource(synthesized, "aws_cloudformation_stack")
    assert PARAMETER not in stack["template_body"] and SECRET not in stack["template_body"]
