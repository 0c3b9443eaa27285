"""Prod runs the containers of its own workloads by content: each image tag is resolved to its registry digest
at deploy time.

A tag can be pushed again; a digest cannot. In prod, a stack transformation rewrites every image of a pod
template (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs) and CloudNativePG's operand (`imageName`) from
`<repo>:<tag>` to `<repo>:<tag>@sha256:<digest>`, looked up with pulumi-docker's `getRegistryImage`
(docker:index/getRegistryImage, which asks the registry for the tag's manifest digest). The digest becomes
part of the resource's inputs, so it is recorded in the state and `pulumi preview` shows a change when a
tag moves. Images already pinned by digest are left as they are. Each reference is looked up once per run, so
every container of one image (the api, the worker and the migration Job that prepares them) runs the same digest.

What a Helm release deploys (the operators, the monitoring stack) is one resource to the engine, not a pod
template, and PgBouncer's image is CloudNativePG's default for a Pooler: both run by the tags their chart or
operator pins (PINS.md).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

POD_TEMPLATE_TYPES = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
}
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
# checkov's CKV_K8S_43 (images by digest) skip, which components write for tag-pinned images.
TAG_SKIP_PREFIX = "CKV_K8S_43="


def _copied(node):
    """Dicts and lists copied, leaves (strings, Outputs) shared: Outputs cannot be deep-copied."""
    if isinstance(node, dict):
        return {key: _copied(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copied(value) for value in node]
    return node


class PinImagesByDigest:
    """The prod stack transformation (register one per program run): its lookups are this run's."""

    def __init__(self) -> None:
        self._digests: dict[str, pulumi.Output[str]] = {}

    def __call__(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ not in POD_TEMPLATE_TYPES and args.type_ != CNPG_CLUSTER:
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
        if image not in self._digests:
            digest = docker.get_registry_image_output(name=image).sha256_digest
            self._digests[image] = pulumi.Output.concat(image, "@", digest)
        return self._digests[image]

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
