"""The account-level checks of `doctor`, each a read-only call or two with one finding as answer."""

from __future__ import annotations

import re
from typing import Any

from ..model.ami import gpu_ami_parameter
from ..model.config import ECR_IMAGE_RE, ModelConfig, S3Object
from ..model.instance_types import arch
from .findings import DENIED, Finding, aws_error, fail, ok, warn

# ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG][@sha256:DIGEST]
ECR_REFERENCE_RE = re.compile(
    ECR_IMAGE_RE.pattern + r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def check_identity(sts_client: Any, region: str) -> tuple[Finding, str]:
    """(finding, account id or ""). Nothing else is worth checking without working credentials.
    `sts_client()` makes the client: a missing --profile fails there."""
    try:
        identity = sts_client().get_caller_identity()
    except Exception as exc:
        name = type(exc).__name__
        code, message = aws_error(exc)
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return fail(
                "credentials",
                "no AWS credentials found",
                "configure them, pass --profile NAME, or --endpoint-url for an emulator",
            ), ""
        if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
            return fail(
                "credentials",
                f"cannot reach AWS STS in {region}: {message}",
                "check the network, or that the emulator at --endpoint-url is running",
            ), ""
        if name == "ProfileNotFound":
            return fail("credentials", message, "check --profile and ~/.aws/config"), ""
        return fail(
            "credentials",
            f"rejected by AWS STS: {code or name}: {message}",
            "refresh them (e.g. `aws sso login`), or pass another --profile",
        ), ""
    return ok(
        "credentials", f"account {identity['Account']} as {identity['Arn']}, region {region} (from the model file)"
    ), identity["Account"]


def check_offerings(ec2: Any, config: ModelConfig) -> Finding:
    """Instance types EC2 sells in the stack's Region (older types, p3 or g3, are gone from some)."""
    wanted = list(config.instance_types)
    offered = {
        o["InstanceType"]
        for o in ec2.describe_instance_type_offerings(
            LocationType="region", Filters=[{"Name": "instance-type", "Values": wanted}]
        )["InstanceTypeOfferings"]
    }
    missing = [name for name in wanted if name not in offered]
    region = config.region
    if not missing:
        return ok("instance types", f"{', '.join(wanted)} offered in {region}")
    listing = f"aws ec2 describe-instance-type-offerings --region {region} lists what is"
    if len(missing) == len(wanted):
        return fail(
            "instance types",
            f"{', '.join(missing)} not offered in {region}: no instance could launch",
            f"pick types offered there ({listing}), or another Region",
        )
    return warn(
        "instance types",
        f"{', '.join(missing)} not offered in {region}; the group uses "
        f"{', '.join(n for n in wanted if n in offered)} only",
        f"drop {', '.join(missing)} from InstanceTypes",
    )


def check_ami(ssm: Any, ec2: Any, config: ModelConfig) -> Finding:
    """The ECS GPU AMI parameter the fleet resolves at plan time (ami.py), and the image it names."""
    name = gpu_ami_parameter(arch(config.instance_types))
    region = config.region
    try:
        image_id = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as exc:
        code, message = aws_error(exc)
        if code == "ParameterNotFound":
            return fail(
                "AMI", f"{name} does not exist in {region}: AWS publishes no ECS GPU AMI there", "pick another Region"
            )
        if code in DENIED:
            return fail(
                "AMI",
                f"cannot read {name} in {region}: {message}",
                "terraform plan reads it too: allow ssm:GetParameter on "
                f"arn:aws:ssm:{region}::parameter/aws/service/ecs/*",
            )
        raise
    images = ec2.describe_images(ImageIds=[image_id])["Images"]
    if not images or images[0].get("State") != "available":
        state = images[0].get("State") if images else "not visible to this account"
        return fail(
            "AMI",
            f"{name} names {image_id}, which is {state} in {region}",
            "retry later: AWS updates the parameter with each AMI release",
        )
    return ok("AMI", f"{name} resolves to {image_id} ({images[0].get('Name', 'no name')}) in {region}")


def check_image(ecr_client: Any, config: ModelConfig, account: str) -> Finding:
    """ContainerImage exists and the stack's region can pull it (ECR only: other registries' credentials
    are not AWS's, and the task definition sets no repository credentials, so it must be public)."""
    image = config.container_image
    match = ECR_REFERENCE_RE.match(image)
    if not match:
        return warn(
            "image",
            f"{image} is not in ECR: doctor cannot check it",
            "make sure it can be pulled anonymously: the task definition sets no registry credentials",
        )
    registry, region, repo = match["account"], match["region"], match["repo"]
    ref = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"] or "latest"}
    shown = f"{repo}{'@' + match['digest'] if match['digest'] else ':' + (match['tag'] or 'latest')}"
    try:
        found = ecr_client(region).describe_images(registryId=registry, repositoryName=repo, imageIds=[ref])[
            "imageDetails"
        ]
    except Exception as exc:
        code, message = aws_error(exc)
        if code == "RepositoryNotFoundException":
            return fail(
                "image",
                f"repository {repo} does not exist in registry {registry} ({region})",
                "create it and push the image, or fix ContainerImage",
            )
        if code == "ImageNotFoundException":
            return fail(
                "image",
                f"{shown} is not in registry {registry} ({region})",
                f"push it with `docker push {image}`, or fix ContainerImage",
            )
        if code in DENIED:
            return warn(
                "image",
                f"cannot look up {shown} in registry {registry} ({region}): {message}",
                "allow ecr:DescribeImages to check it; the stack's execution role may pull from this "
                "repository, but a repository in another account must also allow it in its policy",
            )
        raise
    pushed = max((d["imagePushedAt"] for d in found if d.get("imagePushedAt")), default=None)
    what = f"{shown} exists in registry {registry} ({region}{f', pushed {pushed:%Y-%m-%d}' if pushed else ''})"
    if region != config.region:
        return warn(
            "image",
            f"{what}, but the stack runs in {config.region}: every instance pulls it across "
            "Regions (slower start, inter-Region transfer billed)",
            f"replicate the repository to {config.region} with ECR replication and point ContainerImage there",
        )
    if account and registry != account:
        return warn(
            "image",
            f"{what}, in another account than this one ({account})",
            f"the repository policy must let account {account} pull (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer)",
        )
    return ok("image", what)


def check_object(s3: Any, check: str, location: S3Object) -> Finding:
    """model_location / track_config: the worker reads this object at start; missing, it crash-loops."""
    uri = location.uri
    try:
        head = s3.head_object(Bucket=location.bucket, Key=location.key)
    except Exception as exc:
        code, message = aws_error(exc)
        if code in ("404", "NoSuchKey", "NotFound"):
            if not _bucket_exists(s3, location.bucket):
                return fail(
                    check,
                    f"bucket {location.bucket} of {uri} does not exist",
                    f"create it and upload the object, or fix {check}",
                )
            return fail(check, f"{uri} does not exist", f"upload it with `aws s3 cp FILE {uri}`, or fix {check}")
        if code in DENIED:
            return warn(
                check,
                f"{uri} cannot be read with your credentials (403: no s3:GetObject, or the key is "
                "absent and s3:ListBucket is denied)",
                "check it; the stack lets its tasks read exactly this object, but a bucket in another "
                "account must also allow it in its bucket policy",
            )
        raise
    what = f"{uri} exists ({_size(head.get('ContentLength', 0))})"
    if head.get("ServerSideEncryption") == "aws:kms":
        return warn(
            check,
            f"{what}, encrypted with KMS key {head.get('SSEKMSKeyId', '?')}: unless that is the "
            "AWS managed key aws/s3, the task role needs kms:Decrypt on it, which the stack "
            "does not grant",
            "re-upload it with SSE-S3 (the S3 default)",
        )
    return ok(check, what)


def _size(octets: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if octets >= scale:
            return f"{octets / scale:,.1f} {unit}"
    return f"{octets} bytes"


def _bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        return aws_error(exc)[0] not in ("404", "NoSuchBucket", "NotFound")
    return True
