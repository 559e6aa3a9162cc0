"""The model `doctor` tests check, the names it refers to, and botocore clients that fail as AWS would."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import seed_text, write_model

from ecs_autoscale.emulator import CLOSED_PORT_PROXY
from ecs_autoscale.model.config import load_config

REPO = "doctor/worker"
IMAGE = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/{REPO}:1.0"
MODELS, CONF = "doctor-test-models", "doctor-test-conf"
MODEL_URI, CONF_URI = f"s3://{MODELS}/megadetector.pt", f"s3://{CONF}/track.yaml"


def model(tmp_path: Path, **keys) -> Path:
    values = {
        "StackName": "DoctorReady",
        "ContainerImage": IMAGE,
        "model_location": MODEL_URI,
        "track_config": CONF_URI,
        **keys,
    }
    return write_model(tmp_path, seed_text(**values))


def config_of(tmp_path: Path, **keys):
    return load_config(model(tmp_path, **keys))


def only_finding(proc: subprocess.CompletedProcess) -> str:
    """The single line of a doctor run stopped by its credentials check (nothing else is worth checking)."""
    assert proc.returncode == 1, proc.stderr
    finding, summary = proc.stdout.splitlines()
    assert summary == "DoctorReady in us-west-2: 0 ok, 0 warn, 1 FAIL: fix the FAIL line before `ecs-autoscale deploy`"
    return finding


# --- conditions the emulator cannot produce ---------------------------------------------------------------
def failing_client(service: str, operation: str, code: str, message: str, status: int = 400, region: str = "us-west-2"):
    """A real botocore client whose `operation` raises the ClientError botocore builds for AWS error `code`
    (botocore's Stubber answers before anything is sent; the endpoint is a closed port regardless)."""
    import boto3
    from botocore.stub import Stubber

    session = boto3.session.Session(aws_access_key_id="stub", aws_secret_access_key="stub")
    client = session.client(service, region_name=region, endpoint_url=CLOSED_PORT_PROXY)
    stubber = Stubber(client)
    stubber.add_client_error(operation, service_error_code=code, service_message=message, http_status_code=status)
    stubber.activate()
    return client


def denied(action: str, resource: str) -> str:
    """How AWS words a call no policy allows (IAM User Guide, "Troubleshoot access denied error messages")."""
    return (
        f"User: arn:aws:iam::123456789012:user/doctor is not authorized to perform: {action} on resource: "
        f"{resource} because no identity-based policy allows the {action} action"
    )
