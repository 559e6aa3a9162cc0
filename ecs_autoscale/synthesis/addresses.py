"""Terraform addresses that code outside the stack needs, declared once and without cdktf.

The components build their elements under these ids (`constructs/component.py` takes its id rule from here,
`constructs/storage.py` its bucket elements), and `destroy` keeps what they name: nothing recovers an
address from the synthesized JSON. A test checks every example's JSON holds exactly these addresses.
"""

from __future__ import annotations

from dataclasses import dataclass


def address_part(id: str) -> str:
    """An id as it appears in a Terraform address."""
    # Terraform addresses allow "-", but "_" keeps them valid identifiers in every tool.
    return id.replace("-", "_")


def child_id(parent: str, id: str) -> str:
    """Stack-wide id of element or sub-component `id` of the component whose id is `parent`."""
    return f"{parent}_{address_part(id)}"


@dataclass(frozen=True)
class Element:
    """One Terraform resource of the stack: its type and its (logical) id."""

    type: str
    id: str

    @property
    def address(self) -> str:
        return f"{self.type}.{self.id}"


@dataclass(frozen=True)
class SecureBucketElements:
    """The resources of one `SecureBucket` (constructs/storage.py) whose component id is `component`."""

    component: str
    versioned: bool

    def _element(self, type: str, part: str) -> Element:
        return Element(type, child_id(self.component, part))

    @property
    def bucket(self) -> Element:
        return self._element("aws_s3_bucket", "bucket")

    @property
    def lifecycle(self) -> Element:
        return self._element("aws_s3_bucket_lifecycle_configuration", "lifecycle")

    @property
    def ownership(self) -> Element:
        return self._element("aws_s3_bucket_ownership_controls", "ownership")

    @property
    def tls_only(self) -> Element:
        return self._element("aws_s3_bucket_policy", "tls_only")

    @property
    def public_access_block(self) -> Element:
        return self._element("aws_s3_bucket_public_access_block", "public_access_block")

    @property
    def encryption(self) -> Element:
        return self._element("aws_s3_bucket_server_side_encryption_configuration", "encryption")

    @property
    def versioning(self) -> Element:
        """Present in the stack only when `versioned`."""
        return self._element("aws_s3_bucket_versioning", "versioning")

    def addresses(self) -> tuple[str, ...]:
        """The bucket first, then its settings (by resource type)."""
        settings = [self.lifecycle, self.ownership, self.tls_only, self.public_access_block, self.encryption]
        if self.versioned:
            settings.append(self.versioning)
        return (self.bucket.address, *sorted(e.address for e in settings))


BUCKETS_COMPONENT = "buckets"
"""Id of the stack's `VideoBuckets` component."""
RESULTS_BUCKET_PART = "tracks"
"""Id, inside `VideoBuckets`, of the tracks (results) bucket."""
RESULTS_BUCKET = SecureBucketElements(child_id(address_part(BUCKETS_COMPONENT), RESULTS_BUCKET_PART), versioned=True)
"""The results bucket and its settings: what `destroy` keeps (takes out of the state, leaves in AWS)."""
