"""Where the api, the worker and the migration connect: their connection strings as the render shows them.

The runner masks only the secret material inside a secret (tools/runner.py `sanitize`): the generated passwords
become `<secret>`, while user, host, port and database stay readable. So a connection string pointed at the wrong
host (`localhost` inside a container, the primary instead of the pooler) shows here, where a render that masked the
whole string could only be checked by its key names.
"""

from __future__ import annotations

import base64

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest

from tests.conftest import STACK_FILES, render_stack, stack_config, with_overrides
from tools import render as render_cli
from tools import runner

# Deterministic whatever is checked out beside the project: "" runs the release images (as in test_local_stack.py).
NO_CHECKOUTS = {"ams:local.sources": {"backend": "", "frontend": ""}}

# What each backend workload's connection variables hold in the cluster stacks, read through their secretKeyRefs.
# The api and the worker go through PgBouncer (transaction pooling, hence `pgbouncer=true`) and read from the
# replicas' Service where there are replicas; the migration goes to the primary directly.
CLUSTER_CONNECTIONS = {
    "dev": {
        ("ams-api", "DATABASE_URL"): (
            "postgresql://ams:<secret>@ams-db-pooler-rw.ams-dev-data.svc.cluster.local:5432/ams?pgbouncer=true"
        ),
        ("ams-api", "DATABASE_READ_URL"): "postgresql://ams:<secret>@ams-db-rw.ams-dev-data.svc.cluster.local:5432/ams",
        ("ams-api", "REDIS_URL"): "redis://:<secret>@ams-redis.ams-dev-data.svc.cluster.local:6379/0",
        ("ams-worker", "DATABASE_URL"): (
            "postgresql://ams:<secret>@ams-db-pooler-rw.ams-dev-data.svc.cluster.local:5432/ams?pgbouncer=true"
        ),
        ("ams-worker", "DATABASE_READ_URL"): "postgresql://ams:<secret>@ams-db-rw.ams-dev-data.svc.cluster.local:5432/ams",
        ("ams-worker", "REDIS_URL"): "redis://:<secret>@ams-redis.ams-dev-data.svc.cluster.local:6379/0",
        ("ams-db-migrate", "DATABASE_URL"): "postgresql://ams:<secret>@ams-db-rw.ams-dev-data.svc.cluster.local:5432/ams",
    },
    "staging": {
        ("ams-api", "DATABASE_URL"): (
            "postgresql://ams:<secret>@ams-db-pooler-rw.ams-staging-data.svc.cluster.local:5432/ams?pgbouncer=true"
        ),
        ("ams-api", "DATABASE_READ_URL"): "postgresql://ams:<secret>@ams-db-ro.ams-staging-data.svc.cluster.local:5432/ams",
        ("ams-api", "REDIS_URL"): "redis://:<secret>@ams-redis.ams-staging-data.svc.cluster.local:6379/0",
        ("ams-worker", "DATABASE_URL"): (
            "postgresql://ams:<secret>@ams-db-pooler-rw.ams-staging-data.svc.cluster.local:5432/ams?pgbouncer=true"
        ),
        ("ams-worker", "DATABASE_READ_URL"): ("postgresql://ams:<secret>@ams-db-ro.ams-staging-data.svc.cluster.local:5432/ams"),
        ("ams-worker", "REDIS_URL"): "redis://:<secret>@ams-redis.ams-staging-data.svc.cluster.local:6379/0",
        ("ams-db-migrate", "DATABASE_URL"): ("postgresql://ams:<secret>@ams-db-rw.ams-staging-data.svc.cluster.local:5432/ams"),
    },
    "prod": {
        ("ams-api", "DATABASE_URL"): (
            "postgresql://ams:<secret>@ams-db-pooler-rw.ams-data.svc.cluster.local:5432/ams?pgbouncer=true"
        ),
        ("ams-api", "DATABASE_READ_URL"): "postgresql://ams:<secret>@ams-db-ro.ams-data.svc.cluster.local:5432/ams",
        ("ams-api", "REDIS_URL"): "redis://:<secret>@ams-redis.ams-data.svc.cluster.local:6379/0",
        ("ams-worker", "DATABASE_URL"): (
            "postgresql://ams:<secret>@ams-db-pooler-rw.ams-data.svc.cluster.local:5432/ams?pgbouncer=true"
        ),
        ("ams-worker", "DATABASE_READ_URL"): "postgresql://ams:<secret>@ams-db-ro.ams-data.svc.cluster.local:5432/ams",
        ("ams-worker", "REDIS_URL"): "redis://:<secret>@ams-redis.ams-data.svc.cluster.local:6379/0",
        ("ams-db-migrate", "DATABASE_URL"): "postgresql://ams:<secret>@ams-db-rw.ams-data.svc.cluster.local:5432/ams",
    },
}

# The same variables on Docker: the data containers by their network aliases and container ports, never localhost
# (inside a container that is the container itself).
LOCAL_CONNECTIONS = {
    ("ams-local-api", "DATABASE_URL"): "postgresql://ams:<secret>@postgres:5432/ams",
    ("ams-local-api", "DATABASE_READ_URL"): "postgresql://ams:<secret>@postgres:5432/ams",
    ("ams-local-api", "REDIS_URL"): "redis://:<secret>@redis:6379/0",
    ("ams-local-api", "S3_ENDPOINT"): "http://s3:8333",
    ("ams-local-worker", "DATABASE_URL"): "postgresql://ams:<secret>@postgres:5432/ams",
    ("ams-local-worker", "DATABASE_READ_URL"): "postgresql://ams:<secret>@postgres:5432/ams",
    ("ams-local-worker", "REDIS_URL"): "redis://:<secret>@redis:6379/0",
    ("ams-local-worker", "S3_ENDPOINT"): "http://s3:8333",
    ("ams-local-migrate", "DATABASE_URL"): "postgresql://ams:<secret>@postgres:5432/ams",
    ("ams-local-buckets", "ENDPOINT"): "http://s3:8333",
}
# The hosts above are these containers' aliases on the stack's network, and the ports their own.
LOCAL_DATA_CONTAINERS = {
    "ams-local-postgres": (["postgres"], [5432]),
    "ams-local-redis": (["redis"], [6379]),
    "ams-local-s3": (["s3"], [8333]),
}


def cluster_connections(rendered: runner.Render) -> dict[tuple[str, str], str]:
    """(workload, variable) -> the value the pod gets, for the connection variables of the backend workloads."""
    secrets = {secret["metadata"]["name"]: secret.get("stringData", {}) for secret in rendered.of_kind("Secret")}
    # The migration Job's name carries a hash of what it runs.
    migrations = [job for job in rendered.of_kind("Job") if job["metadata"]["name"].startswith("ams-db-migrate-")]
    assert len(migrations) == 1, [job["metadata"]["name"] for job in migrations]
    workloads = {
        "ams-api": rendered.get("Deployment", "ams-api"),
        "ams-worker": rendered.get("Deployment", "ams-worker"),
        "ams-db-migrate": migrations[0],
    }
    found = {}
    for workload, obj in workloads.items():
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if env["name"].endswith("_URL"):
                    ref = env["valueFrom"]["secretKeyRef"]
                    found[(workload, env["name"])] = secrets[ref["name"]][ref["key"]]
    return found


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_cluster_workloads_connect_to_the_data_services(stack):
    assert cluster_connections(render_stack(stack)) == CLUSTER_CONNECTIONS[stack]


@pytest.fixture(scope="module")
def local_rendered() -> runner.Render:
    return runner.run("local", with_overrides(stack_config("local"), NO_CHECKOUTS))


def test_local_containers_connect_to_the_data_containers(local_rendered):
    containers = {c.inputs["name"]: c.inputs for c in local_rendered.by_type("docker:index/container:Container")}
    found = {}
    for name, inputs in containers.items():
        for env in inputs.get("envs") or []:
            variable, _, value = env.partition("=")
            if variable.endswith(("_URL", "ENDPOINT")):
                found[(name, variable)] = value
    assert found == LOCAL_CONNECTIONS
    for name, (aliases, ports) in LOCAL_DATA_CONTAINERS.items():
        assert [network["aliases"] for network in containers[name]["networksAdvanced"]] == [aliases], name
        assert [port["internal"] for port in containers[name]["ports"]] == ports, name


def rendered_for(stack: str) -> runner.Render:
    if stack == "local":
        return runner.run("local", with_overrides(stack_config("local"), NO_CHECKOUTS))
    return render_stack(stack)


@pytest.mark.parametrize("stack", STACK_FILES)
def test_written_renders_hold_no_generated_value(stack, tmp_path):
    """What `python -m tools.render --out` writes, every file: the masking happens before, not in the writer."""
    render_cli.write(rendered_for(stack), tmp_path)
    for name in ("manifests.yaml", "resources.json", "outputs.json"):
        assert runner.MOCK_RANDOM_PREFIX not in (tmp_path / name).read_text(), name
    # Masked, not dropped: the generated values' places show.
    assert runner.SECRET in (tmp_path / "resources.json").read_text()


def _secret_with_generated_values() -> None:
    """A Secret holding generated values whole, inside a URL, base64-encoded, and two whose names begin alike."""
    password = random.RandomPassword("p", length=16).result
    longer = random.RandomPassword("p-2", length=16).result
    url = pulumi.Output.concat("postgresql://app:", password, "@db.example:5432/app")
    encoded = url.apply(lambda text: base64.b64encode(text.encode()).decode())
    k8s.core.v1.Secret(
        "hand-made",
        metadata={"name": "hand-made", "namespace": "test"},
        string_data={
            "password": pulumi.Output.secret(password),
            "url": pulumi.Output.secret(url),
            "both": pulumi.Output.secret(pulumi.Output.concat(password, ":", longer)),
            "user": pulumi.Output.secret("app"),
        },
        data={"url": pulumi.Output.secret(encoded)},
    )


def test_the_runner_masks_generated_values_and_shows_the_rest():
    secret = runner.run_components(_secret_with_generated_values).get("Secret", "hand-made")
    assert secret["stringData"] == {
        "password": "<secret>",
        "url": "postgresql://app:<secret>@db.example:5432/app",
        # The longer value first: masking `...-p` first would leave `-2` of `...-p-2` behind.
        "both": "<secret>:<secret>",
        "user": "app",
    }
    # Base64 of a string that holds a generated value: no part of it can be shown.
    assert secret["data"] == {"url": "<secret>"}
