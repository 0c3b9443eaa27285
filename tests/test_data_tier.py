"""DataTier: PostgreSQL with replicas, pooling and backups, Redis, object storage, wiring and safety."""

from __future__ import annotations

import pytest

from tests.conftest import render_stack, stack_config, with_overrides
from tools import runner

CNPG = "postgresql.cnpg.io/v1"


def data_tier_urns(rendered) -> set[str]:
    """Every resource registered below the DataTier, directly or in one of its child components."""
    below = set()
    frontier = {r.urn for r in rendered.resources if r.type == "ams:index:DataTier"}
    while frontier:
        frontier = {r.urn for r in rendered.resources if r.parent in frontier}
        below |= frontier
    return below


def data_charts(rendered) -> dict:
    releases = rendered.by_type("kubernetes:helm.sh/v3:Release")
    below = data_tier_urns(rendered)
    return {r.inputs["chart"]: r.inputs["version"] for r in releases if r.urn in below}


def spec(rendered, kind: str, name: str) -> dict:
    return rendered.get(kind, name)["spec"]


@pytest.mark.parametrize("stack, instances, max_client", [("dev", 1, "100"), ("staging", 2, "100"), ("prod", 3, "200")])
def test_cluster_and_pooler_per_stack(stack, instances, max_client):
    rendered = render_stack(stack)
    cluster = rendered.get("Cluster", "ams-db")
    assert cluster["apiVersion"] == CNPG
    assert cluster["spec"]["instances"] == instances
    assert cluster["spec"]["affinity"]["enablePodAntiAffinity"] is True
    assert cluster["spec"]["affinity"]["topologyKey"] == "kubernetes.io/hostname"
    assert ":" in cluster["spec"]["imageName"] and not cluster["spec"]["imageName"].endswith(":latest")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert (initdb["database"], initdb["owner"], initdb["secret"]["name"]) == ("ams", "ams", "ams-db-app")
    assert rendered.get("Secret", "ams-db-app")["type"] == "kubernetes.io/basic-auth"

    pooler = spec(rendered, "Pooler", "ams-db-pooler-rw")
    assert pooler["type"] == "rw" and pooler["cluster"] == {"name": "ams-db"}
    assert pooler["pgbouncer"]["parameters"]["max_client_conn"] == max_client
    pool = int(pooler["pgbouncer"]["parameters"]["default_pool_size"]) * pooler["instances"]
    assert pool <= int(cluster["spec"]["postgresql"]["parameters"]["max_connections"]) - 10
    if stack == "prod":
        assert pooler["instances"] >= 2


def test_prod_postgres_matches_the_seed():
    cluster = spec(render_stack("prod"), "Cluster", "ams-db")
    assert cluster["storage"] == {"size": "20Gi", "storageClass": "ssd"}
    assert cluster["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "2Gi"}}
    assert cluster["affinity"]["podAntiAffinityType"] == "required"


def test_backups_in_staging_and_prod_only():
    assert render_stack("dev").of_kind("ScheduledBackup") == []
    assert "plugins" not in spec(render_stack("dev"), "Cluster", "ams-db")
    for stack, retention in (("staging", "7d"), ("prod", "30d")):
        rendered = render_stack(stack)
        store = spec(rendered, "ObjectStore", "ams-backups")
        assert store["retentionPolicy"] == retention
        scheduled = spec(rendered, "ScheduledBackup", "ams-db-daily")
        assert scheduled["method"] == "plugin" and scheduled["cluster"] == {"name": "ams-db"}
        assert len(scheduled["schedule"].split()) == 6  # daily, seconds first
        assert scheduled["immediate"] is True  # a base backup at once: until one exists, the WAL restores nothing
        (plugin,) = spec(rendered, "Cluster", "ams-db")["plugins"]
        assert plugin["isWALArchiver"] is True and plugin["parameters"]["barmanObjectName"] == "ams-backups"
        assert {"cloudnative-pg", "plugin-barman-cloud"} <= set(data_charts(rendered))


def test_backups_go_to_the_configured_object_store():
    staging = spec(render_stack("staging"), "ObjectStore", "ams-backups")["configuration"]
    # In-cluster storage runs in a namespace of its own: losing or renaming the data namespace spares the backups.
    assert staging["endpointURL"] == "http://ams-s3.ams-staging-storage.svc.cluster.local:8333"
    assert staging["destinationPath"] == "s3://ams-backups/"
    prod = spec(render_stack("prod"), "ObjectStore", "ams-backups")["configuration"]
    assert prod["endpointURL"] == "https://s3.ap-northeast-2.amazonaws.com"
    assert prod["s3Credentials"]["accessKeyId"] == {"name": "ams-s3-external", "key": "access-key-id"}


def test_operator_installs_are_toggles():
    config = with_overrides(stack_config("prod"), {"ams:data.operators": {"installCnpg": False, "installBarmanPlugin": False}})
    rendered = runner.run("prod", config)
    assert data_charts(rendered) == {}
    assert rendered.of_kind("Cluster")


def test_monitors_follow_the_monitoring_switch():
    monitors = {
        m["metadata"]["name"] for m in render_stack("prod").of_kind("PodMonitor") if m["metadata"]["namespace"] == "ams-data"
    }
    assert monitors == {"ams-db", "ams-db-pooler-rw", "ams-redis"}
    assert render_stack("dev").of_kind("PodMonitor") == []
    off = runner.run("prod", with_overrides(stack_config("prod"), {"ams:monitoring.enabled": False}))
    assert off.of_kind("PodMonitor") == []


def test_init_sql_from_a_file():
    config = with_overrides(stack_config("dev"), {"ams:data.postgres.initSqlFile": "tests/data/init.sql"})
    rendered = runner.run("dev", config)
    assert "pgcrypto" in rendered.get("ConfigMap", "ams-db-init")["data"]["init.sql"]
    refs = spec(rendered, "Cluster", "ams-db")["bootstrap"]["initdb"]["postInitApplicationSQLRefs"]
    assert refs == {"configMapRefs": [{"name": "ams-db-init", "key": "init.sql"}]}


def test_redis_persists_with_aof_and_a_password(rendered):
    sts = spec(rendered, "StatefulSet", "ams-redis")
    assert sts["replicas"] == 1
    assert sts["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    config = rendered.get("ConfigMap", "ams-redis-config")["data"]["redis.conf"].splitlines()
    assert {"appendonly yes", "appendfsync everysec", "include /etc/redis-auth/auth.conf"} <= set(config)
    assert set(rendered.get("Secret", "ams-redis")["stringData"]) == {"password", "auth.conf"}
    server, exporter = sts["template"]["spec"]["containers"]
    assert server["image"].startswith("redis:") and exporter["ports"][0]["containerPort"] == 9121
    assert rendered.get("Service", "ams-redis")["spec"]["ports"][0]["port"] == 6379


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_in_cluster_object_storage_with_buckets(stack):
    rendered = render_stack(stack)
    sts = spec(rendered, "StatefulSet", "ams-s3")
    engine = sts["template"]["spec"]["containers"][0]
    assert engine["image"].startswith("chrislusf/seaweedfs:") and "-s3" in engine["command"]
    # The image's entrypoint, which `command` replaces, logs to stderr only with this global flag (seaweedfs
    # docker/entrypoint.sh); glog writes files to the 64Mi /tmp otherwise.
    assert engine["command"][:3] == ["weed", "-logtostderr=true", "server"]
    # One new volume per collection at a time (viper's master.volume_growth.copy_1; the default is 7), or the
    # filer's log and the first bucket take every volume slot of a small disk.
    assert {"name": "WEED_MASTER_VOLUME_GROWTH_COPY_1", "value": "1"} in engine["env"]
    (job,) = [j for j in rendered.of_kind("Job") if j["metadata"]["name"].startswith("ams-s3-buckets-")]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BUCKETS"] == "ams-assets ams-backups"
    namespaces = rendered.outputs["namespaces"]
    assert sts and job["metadata"]["namespace"] == namespaces["storage"]
    credentials = {
        s["metadata"]["namespace"]: s for s in rendered.of_kind("Secret") if s["metadata"]["name"] == "ams-s3-credentials"
    }
    # The engine's copy in its namespace, the backups' ObjectStore's beside the database.
    assert set(credentials) == {namespaces["storage"], namespaces["data"]}
    for secret in credentials.values():
        assert set(secret["stringData"]) == {"ACCESS_KEY_ID", "ACCESS_SECRET_KEY", "s3.json"}


def test_prod_uses_external_object_storage():
    prod = render_stack("prod")
    assert [s["metadata"]["name"] for s in prod.of_kind("StatefulSet")] == ["ams-redis"]
    api = prod.get("Deployment", "ams-api")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in api["env"]}
    assert env["S3_ENDPOINT"] == "https://s3.ap-northeast-2.amazonaws.com"
    assert env["S3_BUCKET"] == "suresoft-ams-assets"
    assert env["S3_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "ams-s3-external", "key": "access-key-id"}}


def test_minio_is_opt_in_by_mode_and_image():
    config = with_overrides(
        stack_config("dev"),
        {"ams:data.objectStorage.mode": "minio", "ams:data.objectStorage.image": "minio/minio:RELEASE.2025-09-07T16-13-09Z"},
    )
    rendered = runner.run("dev", config)
    engine = spec(rendered, "StatefulSet", "ams-s3")["template"]["spec"]["containers"][0]
    assert engine["command"][:2] == ["minio", "server"]
    assert {e["name"] for e in engine["env"]} == {"HOME", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}


def test_app_reads_every_connection_from_the_connection_secret(rendered):
    keys = set(rendered.get("Secret", "ams-connection")["stringData"])
    assert {"database-url", "database-read-url", "database-direct-url", "redis-url"} <= keys
    for name in ("ams-api", "ams-worker"):
        container = rendered.get("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        assert refs["DATABASE_URL"] == {"name": "ams-connection", "key": "database-url"}
        assert refs["DATABASE_READ_URL"] == {"name": "ams-connection", "key": "database-read-url"}
        assert refs["REDIS_URL"] == {"name": "ams-connection", "key": "redis-url"}
    assert rendered.get("Secret", "ams-connection")["metadata"]["namespace"] == rendered.outputs["namespaces"]["app"]


def test_prod_protects_data_bearing_resources():
    prod = render_stack("prod")
    data_types = (
        "kubernetes:postgresql.cnpg.io/v1:Cluster",
        "kubernetes:apps/v1:StatefulSet",
        "random:index/randomPassword:RandomPassword",
    )
    below = data_tier_urns(prod)
    data = [r for r in prod.resources if r.type in data_types and r.urn in below]
    assert len(data) >= 4  # cluster, redis, and the database and redis passwords
    assert all(r.protect and r.retain_on_delete for r in data), [r.name for r in data if not r.protect]
    assert not any(r.protect for r in render_stack("dev").resources)


def test_data_namespace_admits_only_its_clients(rendered):
    policies = {
        p["metadata"]["name"]: p["spec"]
        for p in rendered.of_kind("NetworkPolicy")
        if p["metadata"]["namespace"] == rendered.outputs["namespaces"]["data"]
    }
    assert {"default-deny", "allow-dns", "ams-db", "ams-db-pooler-rw", "ams-redis"} <= set(policies)

    def sources(policy: str, port: int) -> set:
        found = set()
        for rule in policies[policy]["ingress"]:
            if any(p["port"] == port for p in rule["ports"]):
                for peer in rule["from"]:
                    pods = peer.get("podSelector", {}).get("matchLabels", {})
                    found.add(
                        pods.get("app.kubernetes.io/name")
                        or pods.get("cnpg.io/podRole")
                        or pods.get("cnpg.io/jobRole")
                        or "namespace"
                    )
        return found

    assert sources("ams-redis", 6379) == {"ams-api", "ams-worker", "ams-db-migrate"}
    assert sources("ams-db-pooler-rw", 5432) == {"ams-api", "ams-worker", "ams-db-migrate"}
    # CloudNativePG's own pods, by the role it gives them (the policies cover every cluster of the namespace).
    assert {"ams-db-migrate", "pooler", "instance", "join"} <= sources("ams-db", 5432)


def test_custom_resources_wait_for_the_operators_that_define_them():
    prod = render_stack("prod")
    releases = {r.inputs["chart"]: r.urn for r in prod.by_type("kubernetes:helm.sh/v3:Release")}
    by_name = {(r.type.rsplit(":", 1)[-1], r.name): r for r in prod.resources}
    monitor = by_name[("PodMonitor", "ams-data-db-monitor")]
    assert releases["kube-prometheus-stack"] in monitor.dependencies
    cluster = by_name[("Cluster", "ams-data-db")]
    assert releases["cloudnative-pg"] in cluster.dependencies
    barman = next(r for r in prod.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "plugin-barman-cloud")
    assert {releases["cert-manager"], releases["cloudnative-pg"]} <= set(barman.dependencies)
