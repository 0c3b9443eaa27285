"""Settings of the app tier: `ams:app` (sizes, ports, commands) and `ams:delivery` (images and release strategy)."""

import os
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..validation import Image, Model, NonEmpty, OptionalImage, Port, Resources, SortedDict, Strs


class Autoscaling(Model):
    min_replicas: Annotated[int, Field(ge=1)]
    max_replicas: Annotated[int, Field(ge=1)]
    target_cpu: Annotated[int, Field(ge=1, le=100, alias="targetCpuUtilization")]
    target_memory: Annotated[int, Field(ge=1, le=100, alias="targetMemoryUtilization")]

    def rules(self):
        wrong = self.max_replicas < self.min_replicas
        return {"maxReplicas": wrong and f"must be >= minReplicas ({self.min_replicas}), got {self.max_replicas}"}


class AppSettings(Model):
    class Api(Autoscaling):
        port: Port
        resources: Resources

    class Web(Model):
        replicas: Annotated[int, Field(ge=1)]
        resources: Resources

    class Worker(Autoscaling):
        command: Strs
        health_port: Port
        resources: Resources

    class Migration(Model):
        command: Strs
        timeout_seconds: Annotated[int, Field(ge=30, le=86400)]
        resources: Resources

    api: Api
    web: Web
    worker: Worker
    migration: Migration


class DeliverySettings(Model):
    class ImagePair(Model):
        api: Image
        web: Image

    class Canary(Model):
        api: OptionalImage  # "" unless the strategy is canary
        web: OptionalImage
        replicas: Annotated[int, Field(ge=1)]

    class Build(Model):
        enabled: bool
        registry: NonEmpty
        api_context: NonEmpty
        web_context: NonEmpty
        tag: str
        username: str
        platform: NonEmpty

        @field_validator("tag")
        @classmethod
        def _commit(cls, tag: str, info: ValidationInfo) -> str:
            enabled = info.data.get("enabled")
            if not tag and enabled:
                tag = os.environ.get("GITHUB_SHA", "")[:12]  # CI passes the commit
            if enabled and not tag:
                raise ValueError("must be set (or GITHUB_SHA exported) when builds are enabled")
            if tag == "latest":
                raise ValueError("must not be 'latest': tag images with the commit")
            return tag

    strategy: Literal["rolling", "blueGreen", "canary"]
    images: ImagePair  # rolling, the canary's stable track, and the worker in every strategy
    active_color: Literal["blue", "green"]
    colors: Annotated[dict[Literal["blue", "green"], ImagePair], SortedDict]  # the colors that run (blueGreen)
    canary_weight: Annotated[int, Field(ge=0, le=100)]
    canary: Canary
    istio_sidecars: bool  # inject Istio sidecars into the app namespace (needs the Istio CNI agent)
    build: Build

    def rules(self):
        active = self.active_color
        unset = self.strategy == "canary" and "must be set with the canary strategy"
        missing = self.strategy == "blueGreen" and active not in self.colors and f"must be set: it is the activeColor ({active})"
        canary = {f"canary.{key}": not getattr(self.canary, key) and unset for key in ("api", "web")}
        return {f"colors.{active}": missing, **canary}
