"""LocalStack built alone, from hand-made arguments: what runs on a developer's Docker, in which order, with what.

The provider rules these tests hold the component to are cited in components/local/stack.py's docstring
(kreuzwerker/terraform-provider-docker v4.5.0, which pulumi-docker 5.x wraps).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi.runtime.sync_await import _sync_await

from components.local import args as local_args
from components.local import stack as local
from components.local.args import Backend, Data, LocalStackArgs, Web
from components.local.stack import LocalStack
from components.validation import image_problem
from tests.components import build, changed, settings_of
from tests.conftest import PROJECT_DIR
from tools import runner

CONTAINER = "docker:index/container:Container"
SETTINGS = settings_of("local").local
DATA = Data(
    redis_image="redis:8.10.1-alpine3.23",
    object_storage_image="chrislusf/seaweedfs:4.44",
    bucket_job_image="amazon/aws-cli:2.36.7",
    app_bucket="team-assets",
    region="eu-west-1",
    init_sql=None,
)


def backend(source: Path | None = None) -> Backend:
    return Backend(
        release_image="registry.example/team/api:2.0.0",
        source=source,
        api_port=4100,
        worker_command=["node", "dist/worker.js"],
        worker_health_port=4101,
        migration_command=["npx", "prisma", "migrate", "deploy"],
    )


def local_stack(backend_source=None, web_source=None, data=DATA, **kwargs) -> runner.Render:
    args = LocalStackArgs(
        local=kwargs.pop("settings", SETTINGS),
        stack="mine",
        backend=backend(backend_source),
        web=Web(release_image="registry.example/team/web:2.0.0", source=web_source),
        data=data,
        body_size="20m",
        **kwargs,
    )
    render, _ = build(lambda: LocalStack("dev-box", args))
    return render


def containers(render: runner.Render) -> dict[str, runner.Registration]:
    return {r.inputs["name"]: r for r in render.by_type(CONTAINER)}


def names_of(render: runner.Render, urns: list[str]) -> set[str]:
    by_urn = {r.urn: r for r in render.resources}
    return {by_urn[urn].inputs.get("name") for urn in urns if by_urn[urn].type == CONTAINER}


@pytest.fixture(scope="module")
def release() -> runner.Render:
    return local_stack()


@pytest.fixture
def checkouts(tmp_path) -> tuple[Path, Path]:
    for name in ("backend", "frontend"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "package.json").write_text(json.dumps({"name": name}))
        (tmp_path / name / "package-lock.json").write_text('{"lockfileVersion": 3}')
    return tmp_path / "backend", tmp_path / "frontend"


def test_one_network_three_data_volumes_and_the_services(release):
    networks = release.by_type("docker:index/network:Network")
    assert [(n.inputs["name"], n.inputs["driver"]) for n in networks] == [("ams-mine", "bridge")]
    volumes = {v.inputs["name"] for v in release.by_type("docker:index/volume:Volume")}
    assert volumes == {"ams-mine-postgres-data", "ams-mine-redis-data", "ams-mine-object-storage-data"}
    services = {f"ams-mine-{s}" for s in ("postgres", "redis", "s3", "buckets", "migrate", "api", "worker", "web", "proxy")}
    assert set(containers(release)) == services
    for container in containers(release).values():
        [network] = container.inputs["networksAdvanced"]
        assert network["name"] == "ams-mine" and network["aliases"] == [container.inputs["name"].removeprefix("ams-mine-")]


def test_every_image_is_pinned(release):
    images = [r.inputs["name"] for r in release.by_type("docker:index/remoteImage:RemoteImage")]
    assert "postgres:17.11-alpine3.24" in images and "registry.example/team/api:2.0.0" in images
    assert [(image, image_problem(image)) for image in images if image_problem(image)] == []
    assert all(r.inputs["keepLocally"] for r in release.by_type("docker:index/remoteImage:RemoteImage"))


def test_published_ports_are_bound_to_localhost_only(release):
    published = {
        name: [(p["ip"], p["external"], p["internal"]) for p in c.inputs.get("ports") or []]
        for name, c in containers(release).items()
    }
    ports = SETTINGS.ports
    assert {name: found for name, found in published.items() if found} == {
        "ams-mine-postgres": [("127.0.0.1", ports.postgres, 5432)],
        "ams-mine-redis": [("127.0.0.1", ports.redis, 6379)],
        "ams-mine-s3": [("127.0.0.1", ports.object_storage, 8333)],
        "ams-mine-proxy": [("127.0.0.1", ports.proxy, 8080)],
    }


def test_data_and_api_are_created_only_once_docker_reports_them_healthy(release):
    """`wait` polls the health status until healthy (resourceDockerContainerCreate): what depends on them starts after."""
    found = containers(release)
    for name in ("postgres", "redis", "s3", "api"):
        container = found[f"ams-mine-{name}"].inputs
        assert container["wait"] is True and container["waitTimeout"] >= 60, name
        assert container["healthcheck"]["tests"][0] in ("CMD", "CMD-SHELL") and container["healthcheck"]["retries"] > 0
    # Over TCP: the entrypoint's initialisation server listens on the socket only, so TCP means the real server.
    assert found["ams-mine-postgres"].inputs["healthcheck"]["tests"][:4] == ["CMD", "pg_isready", "-h", "127.0.0.1"]
    assert found["ams-mine-api"].inputs["healthcheck"]["tests"][-1] == "http://127.0.0.1:4100/health/ready"
    assert "REDISCLI_AUTH" in found["ams-mine-redis"].inputs["healthcheck"]["tests"][1]
    assert found["ams-mine-s3"].inputs["healthcheck"]["tests"][-1] == "http://127.0.0.1:8333/healthz"
    # A health check change is not applied in place by the provider: it replaces the container instead.
    assert all(c.replace_on_changes == ["healthcheck"] for c in found.values())


def test_containers_start_in_dependency_order(release):
    found = containers(release)
    after = {name: names_of(release, c.dependencies) for name, c in found.items()}
    assert after["ams-mine-migrate"] == {"ams-mine-postgres"}
    assert after["ams-mine-buckets"] == {"ams-mine-s3"}
    for app in ("ams-mine-api", "ams-mine-worker"):
        assert after[app] == {"ams-mine-migrate", "ams-mine-buckets", "ams-mine-redis", "ams-mine-s3"}
    assert after["ams-mine-proxy"] == {"ams-mine-api", "ams-mine-web"}
    assert after["ams-mine-postgres"] == after["ams-mine-redis"] == after["ams-mine-s3"] == set()


def test_the_migration_and_the_bucket_run_once_and_gate_the_app(release):
    """`attach` waits for the exit but records a failure without failing (resourceDockerContainerCreate); the app
    containers carry the one-shots' IDs through `succeeded()`, which fails the update on a non-zero exit code."""
    found = containers(release)
    for name in ("ams-mine-migrate", "ams-mine-buckets"):
        one_shot = found[name].inputs
        assert (one_shot["attach"], one_shot["mustRun"], one_shot["restart"]) == (True, False, "no")
        assert "rm" not in one_shot, "rm with attach loses the container before its exit code is read (kreuzwerker#639)"
    assert found["ams-mine-migrate"].inputs["command"] == ["npx", "prisma", "migrate", "deploy"]
    for app in ("ams-mine-api", "ams-mine-worker"):
        labels = {label["label"]: label["value"] for label in found[app].inputs["labels"]}
        assert labels["com.suresoft.ams.after-migration"].startswith("dev-box-migrate-id")  # the one-shot's container ID
        assert labels["com.suresoft.ams.after-buckets"].startswith("dev-box-buckets-id")
    urn = "urn:pulumi:test::ams::ams:index:LocalStack$docker:index/container:Container::dev-box-migrate"
    assert local.require_exit_zero("ams-mine-migrate", "id-1", 0, urn) == "id-1"
    with pytest.raises(RuntimeError, match=r"ams-mine-migrate exited with 1: see `docker logs ams-mine-migrate`"):
        local.require_exit_zero("ams-mine-migrate", "id-1", 1, urn)


FAILING_MIGRATION = """
from tests import test_component_local as t
from tools import runner
new_resource = runner._RecordingMocks.new_resource

def migration_fails(self, args):
    resource_id, state = new_resource(self, args)
    return resource_id, {**state, "exitCode": 1} if args.name == "dev-box-migrate" else state

runner._RecordingMocks.new_resource = migration_fails
t.local_stack()
"""


def test_a_failed_migration_fails_the_update_and_says_how_to_run_it_again():
    """In a process of its own: the failure surfaces from a pending registration, which would outlive this test.
    The failed container stays in the state with its exit code, and the provider's Update never starts it again
    (resourceDockerContainerUpdate starts a container only when `must_run` turns true): the error names
    `pulumi up --replace` with the one-shot's URN, the way to run it again once the cause is fixed."""
    result = subprocess.run([sys.executable, "-c", FAILING_MIGRATION], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode != 0
    assert "ams-mine-migrate exited with 1: see `docker logs ams-mine-migrate`" in result.stderr
    urn = "urn:pulumi:test::ams::ams:index:LocalStack$docker:index/container:Container::dev-box-migrate"
    assert f"run it again with `pulumi up --replace '{urn}'`" in result.stderr


def test_long_running_services_restart_with_docker_and_drop_privileges(release):
    for name, container in containers(release).items():
        inputs = container.inputs
        assert inputs["securityOpts"] == ["no-new-privileges:true"], name
        assert not inputs.get("privileged"), name
        if not inputs.get("attach"):
            assert inputs["restart"] == "unless-stopped", name
            # Without it the provider's Delete stops with a timeout of 0, a kill (resourceDockerContainerDelete).
            assert inputs["destroyGraceSeconds"] == local.STOP_GRACE_SECONDS >= 10, name
    # The images whose entrypoints start as root to fix volume ownership keep Docker's default capabilities.
    dropped = {name for name, c in containers(release).items() if c.inputs.get("capabilities") == {"drops": ["ALL"]}}
    assert dropped == {f"ams-mine-{s}" for s in ("api", "worker", "web", "proxy", "migrate", "buckets")}


def test_credentials_are_generated_and_reach_data_containers_as_files(release):
    passwords = {r.name for r in release.by_type("random:index/randomPassword:RandomPassword")}
    assert passwords == {f"dev-box-{s}" for s in ("db-password", "redis-password", "s3-secret-key", "jwt-access", "jwt-refresh")}
    found = containers(release)
    postgres = found["ams-mine-postgres"].inputs
    assert "POSTGRES_PASSWORD_FILE=/etc/postgres-password" in postgres["envs"]
    assert not any(env.startswith("POSTGRES_PASSWORD=") for env in postgres["envs"])
    uploads = {
        (name, u["file"]): (u["owner"], u["permissions"])
        for name, c in found.items()
        for u in c.inputs.get("uploads") or []
        if name != "ams-mine-proxy"
    }
    assert uploads == {
        ("ams-mine-postgres", "/etc/postgres-password"): ("70", "0400"),
        ("ams-mine-redis", "/etc/redis.conf"): ("999", "0400"),
        ("ams-mine-s3", "/etc/seaweedfs/s3.json"): ("1000", "0400"),
        ("ams-mine-buckets", "/aws/credentials"): ("0", "0400"),
    }
    # Each file holds its credentials where the image reads them; the render masks the generated values alone.
    contents = {u["file"]: u["content"] for c in found.values() for u in c.inputs.get("uploads") or []}
    assert contents["/etc/postgres-password"] == "<secret>"
    assert "requirepass <secret>" in contents["/etc/redis.conf"].splitlines()
    assert json.loads(contents["/etc/seaweedfs/s3.json"])["identities"][0]["credentials"] == [
        {"accessKey": "<secret>", "secretKey": "<secret>"}
    ]
    assert contents["/aws/credentials"] == "[default]\naws_access_key_id = <secret>\naws_secret_access_key = <secret>\n"
    assert found["ams-mine-redis"].inputs["command"] == ["/etc/redis.conf"]
    seaweedfs = found["ams-mine-s3"].inputs
    assert "-s3.config=/etc/seaweedfs/s3.json" in seaweedfs["command"]
    # The cluster's volume size and growth: on a laptop's disk the default 30 GiB volumes (weed/util/volume_size.go),
    # 7 per new collection, leave the second bucket no volume slot (weed/command/mini.go ensureMiniVolumeGrowthDefaults).
    assert "-master.volumeSizeLimitMB=1024" in seaweedfs["command"]
    assert "WEED_MASTER_VOLUME_GROWTH_COPY_1=1" in seaweedfs["envs"]


def test_configured_jwt_secrets_are_used_instead_of_generated_ones():
    import pulumi

    render = local_stack(jwt_access_secret=pulumi.Output.secret("a"), jwt_refresh_secret=pulumi.Output.secret("b"))
    passwords = {r.name for r in render.by_type("random:index/randomPassword:RandomPassword")}
    assert not {"dev-box-jwt-access", "dev-box-jwt-refresh"} & passwords


def test_redis_keeps_the_clusters_persistence_and_a_password():
    conf = local._data_file("redis.conf", PASSWORD="p4ss")
    lines = {line.strip() for line in conf.splitlines() if line.strip() and not line.startswith("#")}
    assert {"appendonly yes", "appendfsync everysec", "requirepass p4ss", "dir /data"} <= lines
    assert "@" not in conf.split("requirepass", 1)[1]


def test_the_app_gets_the_clusters_variables(release):
    found = containers(release)
    names = [env.split("=", 1)[0] for env in found["ams-mine-api"].inputs["envs"]]
    assert names == [
        *("NODE_ENV", "DATABASE_URL", "DATABASE_READ_URL", "REDIS_URL", "S3_ENDPOINT", "S3_BUCKET", "S3_REGION"),
        *("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "PORT", "JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"),
    ]
    assert [env.split("=", 1)[0] for env in found["ams-mine-worker"].inputs["envs"]] == names[:9]
    assert found["ams-mine-worker"].inputs["command"] == ["node", "dist/worker.js"]
    assert [env.split("=", 1)[0] for env in found["ams-mine-migrate"].inputs["envs"]] == ["DATABASE_URL"]
    buckets = found["ams-mine-buckets"].inputs["envs"]
    assert "BUCKET=team-assets" in buckets and "AWS_DEFAULT_REGION=eu-west-1" in buckets


def test_the_init_sql_is_mounted_only_when_set(tmp_path):
    init = tmp_path / "init.sql"
    init.write_text("CREATE EXTENSION IF NOT EXISTS pgcrypto;\n")
    with_init = containers(local_stack(data=changed(DATA, init_sql=init)))["ams-mine-postgres"].inputs["volumes"]
    mount = {"hostPath": str(init), "containerPath": "/docker-entrypoint-initdb.d/init.sql", "readOnly": True}
    assert mount in with_init
    without = containers(local_stack())["ams-mine-postgres"].inputs["volumes"]
    assert [v["containerPath"] for v in without] == ["/var/lib/postgresql/data"]


def test_release_images_run_without_checkouts(release):
    assert release.by_type("docker:index/image:Image") == []
    found = containers(release)
    backend_image = next(r for r in release.by_type("docker:index/remoteImage:RemoteImage") if r.name == "dev-box-backend-image")
    for name in ("ams-mine-api", "ams-mine-worker", "ams-mine-migrate"):
        assert backend_image.urn in found[name].dependencies and found[name].inputs.get("volumes") == [], name
    assert "NODE_ENV=production" in found["ams-mine-api"].inputs["envs"]


def test_checkouts_are_built_for_development_and_mounted(checkouts):
    backend_dir, frontend_dir = checkouts
    render = local_stack(backend_source=backend_dir, web_source=frontend_dir)
    builds = {r.name: r.inputs for r in render.by_type("docker:index/image:Image")}
    assert set(builds) == {"dev-box-api-dev", "dev-box-web-dev"}
    for component, source in (("api", backend_dir), ("web", frontend_dir)):
        built = builds[f"dev-box-{component}-dev"]
        assert built["skipPush"] is True and built["imageName"] == f"ams-mine-{component}:development"
        dockerfile = str(local.DOCKERFILES[component])
        assert built["build"] == {"context": str(source), "dockerfile": dockerfile, "target": "development"}
    found = containers(render)
    for name in ("ams-mine-api", "ams-mine-worker", "ams-mine-migrate"):
        volumes = found[name].inputs["volumes"]
        assert {"hostPath": str(backend_dir), "containerPath": "/app"} in volumes, name
    assert node_modules_volumes(render, "api") == {"ams-mine-api-node-modules-" + local_image_id(render, "api")[7:19]}
    assert found["ams-mine-worker"].inputs["command"] == local.WORKER_DEV_COMMAND
    assert found["ams-mine-web"].inputs["envs"] == ["VITE_API_URL=/api"]
    proxy = found["ams-mine-proxy"].inputs["uploads"][0]["content"]
    assert "set $web http://web:3000;" in proxy and "set $api http://api:4100;" in proxy


def node_modules_volumes(render, component: str) -> set[str]:
    """The node_modules volumes the containers of `component`'s image mount."""
    mounted = {"api": ("api", "worker", "migrate"), "web": ("web",)}[component]
    found = containers(render)
    volumes = [v for name in mounted for v in found[f"ams-mine-{name}"].inputs["volumes"]]
    return {v["volumeName"] for v in volumes if v["containerPath"] == "/app/node_modules"}


def local_image_id(render, component: str) -> str:
    """The development image's ID as the mocks report it for a build that is not pushed (tools/runner.py)."""
    built = next(r for r in render.by_type("docker:index/image:Image") if r.name == f"dev-box-{component}-dev")
    return "sha256:" + hashlib.sha256(built.inputs["imageName"].encode()).hexdigest()


def test_a_new_development_image_gets_a_fresh_node_modules_volume(checkouts, monkeypatch):
    """Docker fills a volume from the image only while the volume is empty, so a volume kept across a rebuild would
    hide the new image's modules (new dependencies, a regenerated Prisma client, another Node version): the volume is
    named after the image ID, and every container of that image moves to the new one."""
    backend_dir, frontend_dir = checkouts
    before = local_stack(backend_source=backend_dir, web_source=frontend_dir)
    rebuilt_id = "sha256:" + "f" * 64
    new_resource = runner._RecordingMocks.new_resource

    def rebuilt(self, args):
        resource_id, state = new_resource(self, args)
        return resource_id, {**state, "repoDigest": rebuilt_id} if args.name == "dev-box-api-dev" else state

    monkeypatch.setattr(runner._RecordingMocks, "new_resource", rebuilt)
    after = local_stack(backend_source=backend_dir, web_source=frontend_dir)
    assert node_modules_volumes(after, "api") == {"ams-mine-api-node-modules-ffffffffffff"} != node_modules_volumes(before, "api")
    assert node_modules_volumes(after, "web") == node_modules_volumes(before, "web")  # its image did not change
    assert len([v for v in after.by_type("docker:index/volume:Volume") if "node-modules" in v.inputs["name"]]) == 2


def test_a_checkout_is_a_directory_with_a_package_json(checkouts, tmp_path):
    backend_dir, _ = checkouts
    assert local_args.checkout(tmp_path, "backend") == backend_dir
    assert local_args.checkout(tmp_path, "missing") is None
    assert local_args.checkout(tmp_path, "") is None
    (tmp_path / "empty").mkdir()
    assert local_args.checkout(tmp_path, "empty") is None


def test_outputs_name_localhost_and_keep_credentials_secret():
    args = LocalStackArgs(local=SETTINGS, stack="mine", backend=backend(), web=Web("w:1", None), data=DATA, body_size="1m")
    _, stack = build(lambda: LocalStack("x", args))
    assert runner._resolve(stack.url) == f"http://localhost:{SETTINGS.ports.proxy}"
    assert runner._resolve(stack.api_url) == f"http://localhost:{SETTINGS.ports.proxy}/api"
    assert runner._resolve(stack.database_url) == "postgresql://ams:<secret>@localhost:5432/ams"
    assert runner._resolve(stack.redis_url) == "redis://:<secret>@localhost:6379/0"
    assert runner._resolve(stack.object_storage) == {
        "endpoint": "http://localhost:8333",
        "bucket": "team-assets",
        "region": "eu-west-1",
        "accessKeyId": "<secret>",
        "secretAccessKey": "<secret>",
    }
    for secret in (stack.database_url, stack.redis_url, stack.object_storage):
        assert _sync_await(secret.is_secret())
