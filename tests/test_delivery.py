"""Images and release strategies: rolling, blue/green and canary, on every stack."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.settings import SettingsError
from components.validation import image_problem
from tests.conftest import INGRESS_MODE, PROJECT_DIR, STACKS, render_stack, stack_config, with_overrides
from tools import runner

BLUE = {"api": "ghcr.io/suresoft/ams-api:1.0.0", "web": "ghcr.io/suresoft/ams-web:1.0.0"}
GREEN = {"api": "ghcr.io/suresoft/ams-api:1.1.0", "web": "ghcr.io/suresoft/ams-web:1.1.0"}
CANARY = {"api": "ghcr.io/suresoft/ams-api:1.1.0", "web": "ghcr.io/suresoft/ams-web:1.1.0", "replicas": 1}


def blue_green(stack: str, active: str = "blue", **extra) -> runner.Render:
    overrides = {
        "ams:delivery.strategy": "blueGreen",
        "ams:delivery.activeColor": active,
        "ams:delivery.colors": {"blue": BLUE, "green": GREEN},
        **extra,
    }
    return runner.run(stack, with_overrides(stack_config(stack), overrides))


def canary(stack: str, **extra) -> runner.Render:
    overrides = {"ams:delivery.strategy": "canary", "ams:delivery.canary": CANARY, **extra}
    return runner.run(stack, with_overrides(stack_config(stack), overrides))


def deployments(rendered) -> dict:
    return {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}


def image_of(deployment: dict) -> str:
    """The configured image; prod runs it by digest (`<tag>@sha256:...`, components/platform/digests.py)."""
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"].split("@sha256:", 1)[0]


@pytest.mark.parametrize("stack", STACKS)
def test_blue_green_runs_both_colors_behind_the_active_selector(stack):
    rendered = blue_green(stack)
    running = deployments(rendered)
    assert {"ams-api-blue", "ams-api-green", "ams-web-blue", "ams-web-green", "ams-worker"} == set(running)
    assert image_of(running["ams-api-blue"]) == BLUE["api"] and image_of(running["ams-api-green"]) == GREEN["api"]
    for color in ("blue", "green"):
        labels = running[f"ams-api-{color}"]["spec"]["template"]["metadata"]["labels"]
        assert labels["ams.suresoft.com/color"] == color
    for service in ("ams-api-service", "ams-web-service"):
        assert rendered.get("Service", service)["spec"]["selector"]["ams.suresoft.com/color"] == "blue"
    # Each color autoscales on its own, so the idle one is ready to take traffic at full size.
    assert {h["spec"]["scaleTargetRef"]["name"] for h in rendered.of_kind("HorizontalPodAutoscaler")} == {
        "ams-api-blue",
        "ams-api-green",
        "ams-worker",
    }
    # Both api images were migrated before their pods start.
    migrations = [j for j in rendered.of_kind("Job") if j["metadata"]["name"].startswith("ams-db-migrate-")]
    assert {image_of({"spec": j["spec"]}) for j in migrations} == {BLUE["api"], GREEN["api"]}


def test_flipping_the_color_moves_the_selectors_and_the_worker_to_the_new_color():
    """The Services' selectors, and the worker's image: it follows the active color, so after a flip it never runs
    code older than the schema the new color's migration left. The `images` output names what serves."""
    blue = blue_green("prod", "blue")
    green = blue_green("prod", "green")
    before = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in blue.objects}
    after = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in green.objects}
    assert set(before) == set(after)
    changed = sorted(key for key in before if before[key] != after[key])
    assert changed == [
        ("Deployment", "ams", "ams-worker"),
        ("Service", "ams", "ams-api-service"),
        ("Service", "ams", "ams-web-service"),
    ]
    for key in changed[1:]:
        old, new = before[key], after[key]
        assert {**old["spec"], "selector": None} == {**new["spec"], "selector": None}
        assert new["spec"]["selector"]["ams.suresoft.com/color"] == "green"
    worker = after[("Deployment", "ams", "ams-worker")]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert worker.startswith("ghcr.io/suresoft/ams-api:1.1.0@sha256:")  # green's api image (GREEN), pinned in prod
    assert blue.outputs["images"] == BLUE
    assert green.outputs["images"] == GREEN
    assert [r.urn for r in blue.resources] == [r.urn for r in green.resources]


def test_removing_the_idle_color():
    rendered = blue_green("prod", "green", **{"ams:delivery.colors": {"green": GREEN}})
    assert set(deployments(rendered)) == {"ams-api-green", "ams-web-green", "ams-worker"}
    # Green's migration Job keeps its Pulumi name when blue goes: removing a color replaces nothing else.
    jobs = {r.name for r in rendered.by_type("kubernetes:batch/v1:Job")}
    assert "ams-db-migrate-green" in jobs
    assert "ams-db-migrate-green" in {r.name for r in blue_green("prod").by_type("kubernetes:batch/v1:Job")}
    with pytest.raises(SettingsError) as raised:
        blue_green("prod", "blue", **{"ams:delivery.colors": {"green": GREEN}})
    assert raised.value.problems == ["ams:delivery.colors.blue: must be set: it is the activeColor (blue)"]


@pytest.mark.parametrize("stack", STACKS)
def test_canary_splits_by_header_and_weight(stack):
    """In ingress mode: the mesh splits inside the cluster, the Ingress canary at the edge."""
    rendered = canary(stack, **INGRESS_MODE)
    running = deployments(rendered)
    assert {"ams-api", "ams-api-canary", "ams-web", "ams-web-canary", "ams-worker"} == set(running)
    assert running["ams-api-canary"]["spec"]["replicas"] == 1
    assert image_of(running["ams-api-canary"]) == CANARY["api"] and image_of(running["ams-api"]) == BLUE["api"]
    rule = rendered.get("DestinationRule", "ams-api")
    assert rule["apiVersion"] == "networking.istio.io/v1"
    assert {s["name"]: s["labels"] for s in rule["spec"]["subsets"]} == {
        "stable": {"ams.suresoft.com/track": "stable"},
        "canary": {"ams.suresoft.com/track": "canary"},
    }
    http = rendered.get("VirtualService", "ams-api")["spec"]["http"]
    assert http[0]["match"] == [{"headers": {"canary": {"exact": "true"}}}]
    assert http[0]["route"] == [{"destination": {"host": "ams-api-service", "subset": "canary"}}]
    assert [(r["destination"]["subset"], r["weight"]) for r in http[1]["route"]] == [("stable", 90), ("canary", 10)]
    annotations = rendered.get("Ingress", "ams-ingress-canary")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    assert annotations["nginx.ingress.kubernetes.io/canary-by-header"] == "canary"
    assert [p["path"] for p in rendered.get("Ingress", "ams-ingress-canary")["spec"]["rules"][0]["http"]["paths"]] == ["/api"]
    # The web's canary by header only: a weighted, per-request choice would split a page from its assets.
    web = rendered.get("Ingress", "ams-ingress-canary-web")
    assert [p["path"] for p in web["spec"]["rules"][0]["http"]["paths"]] == ["/"]
    assert "nginx.ingress.kubernetes.io/canary-weight" not in web["metadata"]["annotations"]
    assert web["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-by-header-value"] == "true"
    # HPA and PDB keep working: the stable track autoscales, the budget covers each Deployment's pods.
    assert "ams-api" in {h["spec"]["scaleTargetRef"]["name"] for h in rendered.of_kind("HorizontalPodAutoscaler")}


def test_canary_in_gateway_mode_uses_weighted_backend_refs():
    """The api splits by weight, as the seed's canary; the web canary only by header: weighted backendRefs choose
    per request, and a page from one track would fetch its hashed /assets/ from the other (404)."""
    rendered = canary("prod", **{"ams:delivery.canaryWeight": 25})
    rules = rendered.get("HTTPRoute", "ams")["spec"]["rules"]
    by_header = [r for r in rules if "headers" in r["matches"][0]]
    assert [(r["matches"][0]["path"]["value"], r["backendRefs"][0]["name"]) for r in by_header] == [
        ("/api", "ams-api-canary"),
        ("/", "ams-web-canary"),
    ]
    weighted = [r for r in rules if "headers" not in r["matches"][0]]
    assert [[(b["name"], b.get("weight")) for b in r["backendRefs"]] for r in weighted] == [
        [("ams-api-stable", 75), ("ams-api-canary", 25)],
        [("ams-web-stable", None)],
    ]
    assert rendered.of_kind("Ingress") == []


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"ams:delivery.canaryWeight": 101}, "ams:delivery.canaryWeight"),
        ({"ams:delivery.canaryWeight": -1}, "ams:delivery.canaryWeight"),
        ({"ams:delivery.strategy": "redBlack"}, "ams:delivery.strategy"),
        ({"ams:delivery.activeColor": "purple"}, "ams:delivery.activeColor"),
        (
            {"ams:delivery.colors": {"blue": {"api": "ghcr.io/suresoft/ams-api:latest", "web": BLUE["web"]}}},
            "ams:delivery.colors.blue.api",
        ),
        ({"ams:delivery.strategy": "canary", "ams:delivery.canary": {"web": BLUE["web"]}}, "ams:delivery.canary.api"),
        ({"ams:delivery.build.enabled": True}, "ams:delivery.build.tag"),
    ],
)
def test_bad_delivery_settings_are_refused(overrides, path, monkeypatch):
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    with pytest.raises(SettingsError) as raised:
        runner.run("prod", with_overrides(stack_config("prod"), overrides))
    assert path in [p.split(": ", 1)[0] for p in raised.value.problems]


def test_builds_push_to_the_registry_and_deploy_the_digest(monkeypatch):
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123")
    config = with_overrides(
        stack_config("staging"), {"ams:delivery.build.enabled": True, "ams:registryPassword": {"secure": "v1:token"}}
    )
    rendered = runner.run("staging", config)
    builds = {r.name: r.inputs for r in rendered.by_type("docker:index/image:Image")}
    assert set(builds) == {"ams-images-api", "ams-images-web"}
    api = builds["ams-images-api"]
    assert api["imageName"] == "ghcr.io/suresoft/ams-api:0123456789ab"
    # The checkouts beside the project (`../backend`), and this project's Dockerfiles: exact paths, which exist.
    for component, checkout in (("api", "backend"), ("web", "frontend")):
        build = builds[f"ams-images-{component}"]["build"]
        assert build["context"] == str(PROJECT_DIR.parent / checkout)
        assert build["dockerfile"] == str(PROJECT_DIR / "docker" / component / "Dockerfile")
        assert Path(build["dockerfile"]).is_file()
    # The registry block carries the password, so Pulumi keeps all of it secret; the render masks the password alone.
    assert api["registry"] == {"server": "ghcr.io", "username": "", "password": runner.SECRET}
    running = deployments(rendered)["ams-api"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert running.startswith("ghcr.io/suresoft/ams-api@sha256:") and image_problem(running) is None
    assert "CKV_K8S_43" not in str(deployments(rendered)["ams-api"]["metadata"].get("annotations", {}))
    with pytest.raises(SettingsError) as raised:
        runner.run("staging", with_overrides(stack_config("staging"), {"ams:delivery.build.enabled": True}))
    assert [p.split(": ", 1)[0] for p in raised.value.problems] == ["ams:registryPassword"]


def test_rolling_is_the_default_and_images_come_from_settings():
    rendered = render_stack("prod")
    assert rendered.outputs["strategy"] == "rolling"
    assert rendered.by_type("docker:index/image:Image") == []
    assert image_of(deployments(rendered)["ams-api"]) == "ghcr.io/suresoft/ams-api:1.0.0"


@pytest.mark.parametrize("strategy", ["blueGreen", "canary"])
def test_strategies_never_run_latest(strategy):
    rendered = blue_green("prod") if strategy == "blueGreen" else canary("prod")
    images = [c["image"] for d in rendered.of_kind("Deployment") for c in d["spec"]["template"]["spec"]["containers"]]
    assert images and all(image_problem(i) is None for i in images)
    assert "latest" not in yaml.safe_dump(images)


def test_istio_sidecars_are_opt_in_and_can_reach_istiod():
    assert "istio-injection" not in render_stack("staging").get("Namespace", "ams-staging")["metadata"]["labels"]
    rendered = canary("staging", **{"ams:delivery.istioSidecars": True})
    assert rendered.get("Namespace", "ams-staging")["metadata"]["labels"]["istio-injection"] == "enabled"
    policy = rendered.get("NetworkPolicy", "allow-istio-sidecars")["spec"]
    (egress,) = policy["egress"]
    assert egress["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "istio-system"
    assert egress["ports"] == [{"protocol": "TCP", "port": 15012}]
