"""Prod's digest pinning (components/platform/digests.py) and the policy that holds prod to it, on hand-made workloads.

Every container list of a pod template is pinned: `containers` and `initContainers`, at any depth (a CronJob's pod
template is under `jobTemplate`), and CloudNativePG's operand (`imageName`), by the digests of the record the
transformation is given: RECORD below (invented digests: the SHA-256 of each reference).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.platform import digests
from policy import ams_policies as ap
from tests.policy_args import Reg, violations
from tools import runner

WAIT = "registry.example/team/wait:1.0"
APP = "registry.example/team/app:2.0"
MIGRATE = "registry.example/team/migrate:4.0"
REPORT = "registry.example/team/report:5.0"
POSTGRES = "registry.example/postgresql:17.6"
# Already pinned: left as it is, never looked up.
PINNED = "registry.example/team/sidecar:3.0@sha256:" + "0" * 64

PINNED_WAIT = "registry.example/team/wait:1.0@sha256:dbc3448809e5bb8755c90a1c83080f7585618678925d2fffc19e1bba523ba36d"
PINNED_APP = "registry.example/team/app:2.0@sha256:2fb46cc6e9cc6435b6c87bc91d78289ed502b0b97863255f92d67874ef3bd8c9"
PINNED_MIGRATE = "registry.example/team/migrate:4.0@sha256:88edcaa6421952b043780ecc848a180eff6a4138090b6241a2de833abec23cdb"
PINNED_REPORT = "registry.example/team/report:5.0@sha256:4af877d631923dd3b15a08ebe96a6f8dec549e8cc28f53fa42068eb1ce024121"
BOUNCER = "registry.example/pgbouncer:1.25"
PINNED_BOUNCER = "registry.example/pgbouncer:1.25@sha256:fdcf2b22db247740edb15f2939e94a19b9f76433fecea17e94dfb0a42dfa9a30"
PINNED_POSTGRES = "registry.example/postgresql:17.6@sha256:aee809bb13d396031049d79024a3504a86eb29be5f02f0a8e566b8cf93b98768"


RECORD = {
    WAIT: "sha256:dbc3448809e5bb8755c90a1c83080f7585618678925d2fffc19e1bba523ba36d",
    APP: "sha256:2fb46cc6e9cc6435b6c87bc91d78289ed502b0b97863255f92d67874ef3bd8c9",
    MIGRATE: "sha256:88edcaa6421952b043780ecc848a180eff6a4138090b6241a2de833abec23cdb",
    REPORT: "sha256:4af877d631923dd3b15a08ebe96a6f8dec549e8cc28f53fa42068eb1ce024121",
    POSTGRES: "sha256:aee809bb13d396031049d79024a3504a86eb29be5f02f0a8e566b8cf93b98768",
    BOUNCER: "sha256:fdcf2b22db247740edb15f2939e94a19b9f76433fecea17e94dfb0a42dfa9a30",
}


def pod(init_image: str, image: str) -> dict:
    return {
        "initContainers": [{"name": "wait", "image": init_image}],
        "containers": [{"name": "main", "image": image}, {"name": "sidecar", "image": PINNED}],
    }


def workloads() -> None:
    pulumi.runtime.register_stack_transformation(digests.PinImagesByDigest(RECORD))
    skip = {"checkov.io/skip1": "CKV_K8S_43=tag-pinned until prod resolves it", "team": "a"}
    k8s.apps.v1.Deployment(
        "app",
        metadata={"name": "app", "namespace": "test", "annotations": skip},
        spec={"selector": {"matchLabels": {"app": "app"}}, "template": {"spec": pod(WAIT, APP)}},
    )
    k8s.batch.v1.CronJob(
        "report",
        metadata={"name": "report", "namespace": "test"},
        spec={"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": pod(MIGRATE, REPORT)}}}},
    )
    k8s.apiextensions.CustomResource(
        "db",
        api_version="postgresql.cnpg.io/v1",
        kind="Cluster",
        metadata={"name": "db", "namespace": "test"},
        spec={"instances": 1, "imageName": POSTGRES},
    )
    k8s.apiextensions.CustomResource(
        "pooler",
        api_version="postgresql.cnpg.io/v1",
        kind="Pooler",
        metadata={"name": "pooler", "namespace": "test"},
        spec={"cluster": {"name": "db"}, "template": {"spec": {"containers": [{"name": "pgbouncer", "image": BOUNCER}]}}},
    )


def images(pod_spec: dict) -> dict[str, list[str]]:
    return {key: [container["image"] for container in pod_spec[key]] for key in ("initContainers", "containers")}


def test_prod_pins_init_containers_and_containers_at_any_depth():
    rendered = runner.run_components(workloads)
    deployment = rendered.get("Deployment", "app")
    assert images(deployment["spec"]["template"]["spec"]) == {
        "initContainers": [PINNED_WAIT],
        "containers": [PINNED_APP, PINNED],
    }
    cronjob = rendered.get("CronJob", "report")
    assert images(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]) == {
        "initContainers": [PINNED_MIGRATE],
        "containers": [PINNED_REPORT, PINNED],
    }
    assert rendered.get("Cluster", "db")["spec"]["imageName"] == PINNED_POSTGRES
    assert rendered.get("Pooler", "pooler")["spec"]["template"]["spec"]["containers"][0]["image"] == PINNED_BOUNCER
    # The checkov skip for tag-pinned images goes with the tags; other annotations stay.
    assert deployment["metadata"]["annotations"] == {"team": "a"}


def deployment_reg(init_image: str, image: str) -> Reg:
    inputs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "test"},
        "spec": {"template": {"spec": pod(init_image, image)}},
    }
    return Reg(ap.DEPLOYMENT, inputs, stack="prod")


def test_the_prod_policy_refuses_an_init_container_by_tag():
    assert violations(ap.prod_images_by_digest, deployment_reg(PINNED_WAIT, PINNED_APP)) == []
    assert violations(ap.prod_images_by_digest, deployment_reg(WAIT, PINNED_APP)) == [
        f'Deployment test/app, init container "wait": image {WAIT} must be pinned by digest in prod'
        " (<repo>:<tag>@sha256:<digest>)"
    ]
    assert violations(ap.prod_images_by_digest, deployment_reg(PINNED_WAIT, APP)) == [
        f'Deployment test/app, container "main": image {APP} must be pinned by digest in prod (<repo>:<tag>@sha256:<digest>)'
    ]


def test_the_prod_policy_refuses_a_tag_only_pgbouncer():
    def pooler(image: str) -> Reg:
        containers = [{"name": "pgbouncer", "image": image}]
        inputs = {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Pooler",
            "metadata": {"name": "pooler", "namespace": "test"},
            "spec": {"template": {"spec": {"containers": containers}}},
        }
        return Reg(ap.CNPG_POOLER, inputs, stack="prod")

    assert violations(ap.prod_images_by_digest, pooler(PINNED_BOUNCER)) == []
    [message] = violations(ap.prod_images_by_digest, pooler(BOUNCER))
    assert message.startswith("Pooler test/pooler, container 'pgbouncer': image registry.example/pgbouncer:1.25 must be pinned")
