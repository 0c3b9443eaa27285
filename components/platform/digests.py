"""Prod runs the containers of its own workloads by content: each image's digest comes from a record in the
repository, never from a registry at deploy time.

A tag can be pushed again; a digest cannot. The record (image-digests.yaml beside this module: `<repo>:<tag>` ->
`sha256:<digest>`) is filled by `scripts/refresh_digests.py --write` where the registries are reachable (the
pipeline), so a digest change is a reviewed diff, a registry outage cannot fail a prod preview or a rollback, and
going back to an earlier commit brings back its digests. An image without a digest there makes prod refuse before
anything is registered (`unrecorded`), naming that command; none is ever invented.

In prod, a stack transformation rewrites every image of a pod template (Deployments, StatefulSets, DaemonSets, Jobs,
CronJobs; `containers` and `initContainers` at any depth) and CloudNativePG's operand (`imageName`) from
`<repo>:<tag>` to `<repo>:<tag>@sha256:<digest>`. Images already pinned by digest are left as they are.

What a Helm release deploys (the operators, the monitoring stack) is one resource to the engine, not a pod
template: its images are pinned through the chart's own digest fields from the same record, where the chart has
them (chart_images.py, which lists the images that run by their chart's tag and why). PgBouncer's image is a
setting (`ams:data.postgres.poolerImage`, the operator's own default) in the Pooler's pod template, which is
pinned like the others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pulumi
import yaml

POD_TEMPLATE_TYPES = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
}
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
# CloudNativePG's Pooler: `spec.template` is the PgBouncer pods' template.
CNPG_POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
# checkov's CKV_K8S_43 (images by digest) skip, which components write for tag-pinned images.
TAG_SKIP_PREFIX = "CKV_K8S_43="
RECORD = Path(__file__).with_name("image-digests.yaml")
# Another record in its place: the tests' (tests/data/image-digests.test.yaml, invented digests marked as such).
RECORD_ENV = "AMS_IMAGE_DIGESTS"
REFRESH_COMMAND = "scripts/refresh_digests.py --write"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Settings keys that name an image the cluster runs; the app's images are the values under `images`, `colors`, `canary`.
IMAGE_KEYS = re.compile(r"image|.*Image")
APP_IMAGE_PARENTS = ("images", "blue", "green", "canary")


class DigestRecordError(ValueError):
    """The record is not a mapping of `<repo>:<tag>` to `sha256:<64 hex digits>` (or null: not yet resolved)."""


def record_path() -> Path:
    return Path(os.environ.get(RECORD_ENV) or RECORD)


def load_record(path: Path) -> dict[str, str | None]:
    """`<repo>:<tag>` -> its digest, or None where the refresh has not resolved it yet."""
    document = yaml.safe_load(path.read_text()) or {}
    digests = document.get("digests") if isinstance(document, dict) else None
    if not isinstance(digests, dict):
        raise DigestRecordError(f"{path}: needs a `digests:` mapping of image to sha256 digest")
    for image, digest in digests.items():
        if "@" in image or ":" not in image.rsplit("/", 1)[-1]:
            raise DigestRecordError(f"{path}: {image!r} must be a <repo>:<tag> reference without a digest")
        if digest is not None and not DIGEST.fullmatch(str(digest)):
            raise DigestRecordError(f"{path}: {image}: {digest!r} is not sha256:<64 hex digits>")
    return digests


def settings_images(settings: Mapping) -> set[str]:
    """Every image a stack's settings (`model_dump(by_alias=True)`) name for the cluster to run: not those of the
    in-cluster object storage when the stack uses an external one, nor the monitoring's when it is off."""
    running = dict(settings)
    data = dict(running.get("data") or {})
    if (data.get("objectStorage") or {}).get("mode") == "external":
        data.pop("objectStorage")
    running["data"] = data
    if not (running.get("monitoring") or {}).get("enabled"):
        running.pop("monitoring", None)
    found: set[str] = set()
    _collect_images(running, "", found)
    return found


def _collect_images(node, key: str, found: set[str]) -> None:
    if isinstance(node, Mapping):
        for child_key, value in node.items():
            if _names_an_image(key, child_key):
                _add_image(value, found)
            else:
                _collect_images(value, child_key, found)
    elif isinstance(node, list):
        for value in node:
            _collect_images(value, key, found)


def _names_an_image(parent_key: str, key: str) -> bool:
    if parent_key in APP_IMAGE_PARENTS and key in ("api", "web"):
        return True
    return IMAGE_KEYS.fullmatch(key) is not None


def _add_image(value, found: set[str]) -> None:
    if isinstance(value, str) and value:
        found.add(value)


def unrecorded(images: Iterable[str], record: Mapping[str, str | None]) -> list[str]:
    """The images that are neither pinned by digest themselves nor have a digest in the record."""
    return sorted(image for image in images if "@sha256:" not in image and not record.get(image))


def refusal(missing: list[str], path: Path) -> str:
    """The one problem line a prod run stops with while images lack a recorded digest."""
    return (
        f"image digests: prod runs {len(missing)} image(s) without a digest in {path.name} ({', '.join(missing)}): "
        f"run {REFRESH_COMMAND} where their registries are reachable (the pipeline does) and commit the record; "
        "no digest is looked up at deploy time"
    )


def _copied(node):
    """Dicts and lists copied, leaves (strings, Outputs) shared: Outputs cannot be deep-copied."""
    if isinstance(node, dict):
        return {key: _copied(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copied(value) for value in node]
    return node


class PinImagesByDigest:
    """The prod stack transformation: each image by the digest the record holds for it."""

    def __init__(self, record: Mapping[str, str | None]) -> None:
        self._record = record

    def __call__(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ not in POD_TEMPLATE_TYPES and args.type_ not in (CNPG_CLUSTER, CNPG_POOLER):
            return None
        props = _copied(dict(args.props))
        spec = props.get("spec")
        if not isinstance(spec, dict):
            return None
        if args.type_ == CNPG_CLUSTER:
            spec["imageName"] = self.by_digest(spec["imageName"])
        else:
            self._pin_containers(spec)
            metadata = props.get("metadata") or {}
            annotations = metadata.get("annotations") or {}
            metadata["annotations"] = {
                key: value
                for key, value in annotations.items()
                if not (isinstance(value, str) and value.startswith(TAG_SKIP_PREFIX))
            }
        return pulumi.ResourceTransformationResult(props=props, opts=args.opts)

    def by_digest(self, image: pulumi.Input[str]) -> pulumi.Input[str]:
        if not isinstance(image, str) or "@sha256:" in image:
            return image
        digest = self._record.get(image)
        if not digest:
            # `unrecorded` refused every image the settings name before anything was registered: one that reaches
            # here came from elsewhere, and `settings_images` must learn where.
            raise DigestRecordError(f"{image} has no recorded digest and is not among the images the settings name")
        return f"{image}@{digest}"

    def _pin_containers(self, node) -> None:
        """Every `containers`/`initContainers` entry below `node` gets its image by digest."""
        if isinstance(node, dict):
            for key in ("containers", "initContainers"):
                for container in node.get(key) or []:
                    if isinstance(container, dict) and "image" in container:
                        container["image"] = self.by_digest(container["image"])
            for value in node.values():
                self._pin_containers(value)
        elif isinstance(node, list):
            for value in node:
                self._pin_containers(value)
