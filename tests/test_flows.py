"""The NetworkPolicy flow matrix: every connection AMS needs is allowed, every one it must refuse is denied.

The table is `tests/data/flows.yaml` (endpoints with their upstream labels and sources, required and forbidden
flows); the semantics are `tests/netpol.py`. Runs for every stack and variant over the render as written, with the
chart pods as `helm template` renders them from the program's values (tools/helm.py): their real labels and ports.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from components.edge.settings import DEFAULT_CONTROLLER_NAMESPACE
from tests.conftest import RENDERS, VARIANTS, stack_config, with_overrides
from tests.netpol import Cluster, Endpoint
from tools import helm

FLOWS = yaml.safe_load((Path(__file__).parent / "data" / "flows.yaml").read_text())
ENVIRONMENTS = yaml.safe_load((Path(__file__).parent.parent / "components" / "environments.yaml").read_text())
POD_TEMPLATES = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


@dataclass
class World:
    cluster: Cluster
    endpoints: dict[str, list[Endpoint]]
    monitors: list[dict]


def load_render(name: str, directory: Path) -> tuple[list[dict], list[dict], dict, dict]:
    objects = [o for o in yaml.load_all((directory / "manifests.yaml").read_text(), Loader=yaml.CSafeLoader) if o]
    resources = json.loads((directory / "resources.json").read_text())
    outputs = json.loads((directory / "outputs.json").read_text())
    stack, overrides = VARIANTS.get(name, (name, {}))
    return objects, resources, outputs, with_overrides(stack_config(stack), overrides) | {"_stack": stack}


def controller_namespace(config: dict, mode: str) -> str:
    environment = config.get("ams:environment") or config["_stack"]
    configured = (config.get("ams:ingress") or {}).get("controllerNamespace")
    configured = configured or ENVIRONMENTS[environment]["ingress"].get("controllerNamespace")
    return configured or DEFAULT_CONTROLLER_NAMESPACE[mode]


def chart_pods(results: list) -> dict[tuple[str, str], Endpoint]:
    """(chart, "Kind/name") -> the pod endpoint a release's rendered workload makes, with its named ports (an unnamed
    port by its number)."""
    found = {}
    for release, objects in results:
        for pod in helm.pod_specs(objects):
            ports = {
                port.get("name", str(port["containerPort"])): (port["containerPort"], port.get("protocol", "TCP"))
                for container in helm.containers(pod.spec)
                for port in container.get("ports", [])
            }
            key = (release.chart_dir_name, f"{pod.kind}/{pod.name}")
            found[key] = Endpoint(key[1], pod.namespace, pod.labels, ports)
    return found


def build_world(name: str, directory: Path, chart_results: list) -> World:
    objects, resources, outputs, config = load_render(name, directory)
    rendered_chart_pods = chart_pods(chart_results)
    releases = {
        r["inputs"]["chart"].rsplit("/", 1)[-1]: r["inputs"] for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release"
    }
    clusters = [o for o in objects if o["kind"] == "Cluster"]
    ingress_modes = {"gateway" if any(o["kind"] == "Gateway" for o in objects) else "ingress"}
    mode = next(iter(ingress_modes))
    issuers = [
        (o["metadata"].get("annotations") or {}).get("cert-manager.io/cluster-issuer", "")
        for o in objects
        if o["kind"] in ("Ingress", "Gateway")
    ]
    namespaces = {
        **outputs["namespaces"],
        "operators": releases.get("cloudnative-pg", {}).get("namespace", "cnpg-system"),
        "controller": controller_namespace(config, mode),
    }
    program: dict[str, list[Endpoint]] = {}
    for obj in objects:
        if obj["kind"] not in POD_TEMPLATES:
            continue
        template = obj["spec"]["template"]
        labels = template["metadata"]["labels"]
        ports = {
            p["name"]: (p["containerPort"], p.get("protocol", "TCP"))
            for c in template["spec"]["containers"]
            for p in c.get("ports", [])
            if "name" in p
        }
        endpoint = Endpoint(labels["app.kubernetes.io/name"], obj["metadata"]["namespace"], labels, ports)
        program.setdefault(endpoint.name, []).append(endpoint)

    conditions = {
        "cluster": bool(clusters),
        "replicas": any(c["spec"]["instances"] >= 2 for c in clusters),
        "acme": any(i.startswith("letsencrypt") for i in issuers),
        "external-s3": "ams-s3" not in program,
    }

    def present(when) -> bool:
        if when is None:
            return True
        if isinstance(when, str):
            return conditions[when]
        if "release" in when:
            return when["release"] in releases
        return mode == when["mode"]

    endpoints = dict(program)
    for key, spec in FLOWS["endpoints"].items():
        if not present(spec.get("when")):
            continue
        ports = {n: tuple(p) if isinstance(p, list) else (p, "TCP") for n, p in (spec.get("ports") or {}).items()}
        if "chart" in spec:
            pod = rendered_chart_pods.get((spec["chart"]["release"], spec["chart"]["workload"]))
            if spec["chart"]["release"] in releases:
                assert pod, f"{key}: {spec['chart']} is not among the chart pods of {name}"
            if pod:
                endpoints[key] = [Endpoint(key, pod.namespace, pod.labels, pod.ports)]
        elif key == "node":
            # A node's address in the subnets the stack records (none recorded: no node to reach, and none is reached).
            environment = config.get("ams:environment") or config["_stack"]
            recorded = (config.get("ams:network") or {}).get("nodeCidrs")
            cidrs = recorded if recorded is not None else ENVIRONMENTS[environment]["network"]["nodeCidrs"]
            if cidrs and cidrs != ["0.0.0.0/0"]:
                address = str(next(ipaddress.ip_network(cidrs[0]).hosts()))
                endpoints[key] = [Endpoint(key, ip=address, ports=ports)]
            elif cidrs:
                endpoints[key] = [Endpoint(key, ip=spec["ip"], ports=ports)]
        elif key == "apiserver":
            # The address the cluster published in its `kubernetes` EndpointSlice, as the render read it.
            address = outputs["cluster"]["apiServerCidrs"][0].split("/")[0]
            endpoints[key] = [Endpoint(key, ip=address, ports=ports)]
        elif "ip" in spec:
            endpoints[key] = [Endpoint(key, ip=spec["ip"], ports=ports)]
        else:
            namespace = namespaces.get(spec["namespace"], spec["namespace"])
            endpoints[key] = [Endpoint(key, namespace, spec["labels"], ports)]
    namespace_labels = {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in objects if o["kind"] == "Namespace"}
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    monitors = [o for o in objects if o["kind"] == "PodMonitor"]
    ams = set(outputs["namespaces"].values())
    endpoints["every-pod"] = [e for group in endpoints.values() for e in group if e.is_pod and e.namespace in ams]
    return World(Cluster(policies, namespace_labels), endpoints, monitors)


def names(ref) -> list[str]:
    return ref if isinstance(ref, list) else [ref]


def connections(world: World, flow: dict):
    """Every (source, destination, port, protocol) a flow names that exists in this render."""
    for source_name in names(flow["from"]):
        for destination_name in names(flow["to"]):
            for source in world.endpoints.get(source_name, []):
                for destination in world.endpoints.get(destination_name, []):
                    port = flow["port"]
                    if port == "first":
                        port = next(iter(destination.ports))
                    if isinstance(port, str):
                        number, protocol = destination.ports[port]
                    else:
                        number, protocol = port, flow.get("protocol", "TCP")
                    yield source, destination, number, protocol


@pytest.fixture(params=RENDERS)
def world(request, render_dirs, chart_objects) -> World:
    return build_world(request.param, render_dirs[request.param], chart_objects[request.param])


def describe(source: Endpoint, destination: Endpoint, port: int, protocol: str) -> str:
    where = lambda e: f"{e.name} ({e.namespace or e.ip})"  # noqa: E731
    return f"{where(source)} -> {where(destination)}:{port}/{protocol}"


def test_required_flows_are_allowed(world):
    blocked, checked = [], 0
    for flow in FLOWS["required"]:
        if flow.get("when") == "external-s3" and "ams-s3" in world.endpoints:
            continue
        for connection in connections(world, flow):
            checked += 1
            if not world.cluster.allows(*connection):
                blocked.append(f"{describe(*connection)}  ({flow.get('why', 'required')})")
    assert checked >= 40
    assert blocked == [], "required flows the policies deny:\n" + "\n".join(blocked)


def test_prometheus_reaches_every_port_a_pod_monitor_names(world):
    if "prometheus" not in world.endpoints:
        assert world.monitors == []
        return
    prometheus = world.endpoints["prometheus"][0]
    blocked, checked = [], 0
    pods = [e for group in world.endpoints.values() for e in group if e.is_pod]
    for monitor in world.monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        targets = [p for p in pods if p.namespace == monitor["metadata"]["namespace"] and selector.items() <= p.labels.items()]
        assert targets, f"PodMonitor {monitor['metadata']['name']} selects no pod"
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            for target in targets:
                number, protocol = target.ports[endpoint["port"]]
                checked += 1
                if not world.cluster.allows(prometheus, target, number, protocol):
                    blocked.append(describe(prometheus, target, number, protocol))
    assert checked
    assert blocked == [], "scrapes the policies deny:\n" + "\n".join(blocked)


def test_forbidden_flows_are_denied(world):
    allowed, checked = [], 0
    for flow in FLOWS["forbidden"]:
        for connection in connections(world, flow):
            checked += 1
            if world.cluster.allows(*connection):
                allowed.append(f"{describe(*connection)}  ({flow.get('why', 'forbidden')})")
    assert checked >= 10
    assert allowed == [], "forbidden flows the policies allow:\n" + "\n".join(allowed)


def test_every_ams_namespace_starts_from_default_deny(world):
    isolated = {
        p["metadata"]["namespace"]
        for p in world.cluster.policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
    }
    namespaces = {e.namespace for e in world.endpoints["every-pod"]}
    assert namespaces <= isolated
