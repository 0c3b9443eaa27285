"""Images: build and push the api and web images (pulumi-docker), or take pinned ones from settings."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from ..validation import DOCKERFILES, PROJECT_DIR
from .settings import DeliverySettings
from .tier import ImageRefs


@dataclass(frozen=True)
class ImagesArgs:
    delivery: DeliverySettings
    registry_password: pulumi.Output[str] | None


class Images(pulumi.ComponentResource):
    """The api and web images: built from `docker/` and pushed (pulumi-docker) when builds are on, else the pinned
    references from settings. `refs` is what AppTier runs (pushed digests, or the settings' images).

    Needs: the delivery settings and the registry password (a secret Output) when building.
    """

    refs: ImageRefs

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:Images", name, None, opts)
        delivery = args.delivery
        build = delivery.build
        if not build.enabled:
            self.refs = ImageRefs(api=delivery.images.api, web=delivery.images.web)
        else:
            registry = {
                "server": build.registry.split("/")[0],
                "username": build.username,
                "password": args.registry_password,
            }

            def image(component: str, context: str) -> pulumi.Output[str]:
                built = docker.Image(
                    f"{name}-{component}",
                    image_name=f"{build.registry}/ams-{component}:{build.tag}",
                    build={
                        "context": str((PROJECT_DIR / context).resolve()),
                        "dockerfile": str(DOCKERFILES[component]),
                        "platform": build.platform,
                    },
                    registry=registry,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                # The digest, not the tag: what runs is exactly what was built and pushed.
                return built.repo_digest

            self.refs = ImageRefs(api=image("api", build.api_context), web=image("web", build.web_context))
        self.register_outputs({"api": self.refs.api, "web": self.refs.web})
