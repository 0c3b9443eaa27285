"""Settings of delivery (`ams:delivery`): images, image builds and the release strategy."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .validation import Node

STRATEGIES = ("rolling", "blueGreen", "canary")
COLORS = ("blue", "green")


@dataclass(frozen=True)
class ImagePair:
    api: str
    web: str


@dataclass(frozen=True)
class Build:
    enabled: bool
    registry: str
    api_context: str
    web_context: str
    tag: str
    username: str
    platform: str


@dataclass(frozen=True)
class DeliverySettings:
    strategy: str
    images: ImagePair  # rolling, the canary's stable track, and the worker in every strategy
    active_color: str
    colors: dict  # color -> ImagePair, the colors that run (blueGreen)
    canary_weight: int
    canary: ImagePair
    canary_replicas: int
    istio_sidecars: bool  # inject Istio sidecars into the app namespace (needs the Istio CNI agent)
    build: Build


def _pair(node: Node, required: bool = True) -> ImagePair:
    if not required and not {"api", "web"} & set(node.value):
        return ImagePair("", "")
    return ImagePair(api=node.image("api"), web=node.image("web"))


def parse_delivery(node: Node) -> DeliverySettings:
    strategy = node.string("strategy", choices=STRATEGIES)
    images = node.child("images")
    stable = _pair(images)
    images.close()

    active = node.string("activeColor", choices=COLORS)
    colors_node = node.child("colors")
    colors = {}
    for color in sorted(colors_node.value):
        if color not in COLORS:
            continue  # reported as unknown by close()
        pair_node = colors_node.child(color)
        colors[color] = _pair(pair_node)
        pair_node.close()
    if strategy == "blueGreen" and active and active not in colors:
        colors_node.problems.add(colors_node.key(active), f"must be set: it is the activeColor ({active})")
    colors_node.close()

    weight = node.integer("canaryWeight", minimum=0, maximum=100)
    canary = node.child("canary")
    canary_pair = _pair(canary, required=strategy == "canary")
    canary_replicas = canary.integer("replicas", minimum=1)
    canary.close()

    result = DeliverySettings(
        strategy=strategy,
        images=stable,
        active_color=active,
        colors=colors,
        canary_weight=weight,
        canary=canary_pair,
        canary_replicas=canary_replicas,
        istio_sidecars=node.boolean("istioSidecars"),
        build=_build(node.child("build")),
    )
    node.close()
    return result


def _build(node: Node) -> Build:
    enabled = node.boolean("enabled")
    # CI passes the commit; a tag in settings wins (e.g. a release tag).
    tag = node.string("tag", optional=True) or (os.environ.get("GITHUB_SHA", "")[:12] if enabled else "")
    if enabled and not tag:
        node.problems.add(node.key("tag"), "must be set (or GITHUB_SHA exported) when builds are enabled")
    if tag == "latest":
        node.problems.add(node.key("tag"), "must not be 'latest': tag images with the commit")
    result = Build(
        enabled=enabled,
        registry=node.string("registry"),
        api_context=node.string("apiContext"),
        web_context=node.string("webContext"),
        tag=tag,
        username=node.string("username", optional=True),
        platform=node.string("platform"),
    )
    node.close()
    return result
