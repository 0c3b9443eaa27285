"""The `local` stack as a developer runs it: its stack file, what it may set, its render, and its proxy's routes."""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from components.local import stack as local
from components.settings import SettingsError
from tests.conftest import PROJECT_DIR, render_stack, stack_config, tool, with_overrides
from tools import render as render_cli
from tools import runner

# Deterministic whatever is checked out beside the project: "" runs the release images.
NO_CHECKOUTS = {"ams:local.sources": {"backend": "", "frontend": ""}}


def local_render(overrides: dict | None = None) -> runner.Render:
    return runner.run("local", with_overrides(stack_config("local"), {**NO_CHECKOUTS, **(overrides or {})}))


@pytest.fixture(scope="module")
def rendered() -> runner.Render:
    return local_render()


def problems(stack: str, overrides: dict) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        runner.run(stack, with_overrides(stack_config(stack), overrides))
    return raised.value.problems


def test_the_local_stack_runs_on_docker_only(rendered):
    types = {r.type.split(":")[0] for r in rendered.resources}
    assert types == {"ams", "docker", "random"} and rendered.objects == []
    assert rendered.outputs["environment"] == "local"
    assert rendered.outputs["url"] == "http://localhost:8080" and rendered.outputs["apiUrl"] == "http://localhost:8080/api"
    # Secret outputs: the generated credentials masked, the addresses a developer connects to shown.
    assert rendered.outputs["databaseUrl"] == "postgresql://ams:<secret>@localhost:5432/ams"
    assert rendered.outputs["redisUrl"] == "redis://:<secret>@localhost:6379/0"
    assert rendered.outputs["objectStorage"] == {
        "endpoint": "http://localhost:8333",
        "bucket": "ams-assets",
        "region": "us-east-1",
        "accessKeyId": "<secret>",
        "secretAccessKey": "<secret>",
    }


def test_no_credential_appears_in_the_render(rendered, tmp_path):
    render_cli.write(rendered, tmp_path)
    text = (tmp_path / "resources.json").read_text() + (tmp_path / "outputs.json").read_text()
    assert runner.MOCK_RANDOM_PREFIX not in text
    for seed_default in ("minioadmin", "POSTGRES_PASSWORD=password", ":password@"):
        assert seed_default not in text


def test_the_app_gets_the_same_variables_as_in_the_cluster(rendered):
    cluster_api = next(
        c
        for d in render_stack("dev").of_kind("Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
        if c["name"] == "api"
    )
    cluster = [env["name"] for env in cluster_api["env"]]
    api = next(r for r in rendered.by_type("docker:index/container:Container") if r.inputs["name"] == "ams-local-api")
    assert [env.split("=", 1)[0] for env in api.inputs["envs"]] == cluster


def test_object_storage_is_the_dev_engine_and_the_migration_the_clusters_command(rendered):
    dev = runner.run("dev", stack_config("dev"))
    engine = next(
        c["image"]
        for s in dev.of_kind("StatefulSet")
        for c in s["spec"]["template"]["spec"]["containers"]
        if c["name"] == "seaweedfs"
    )
    found = {r.inputs["name"]: r for r in rendered.by_type("docker:index/container:Container")}
    images = {r.urn: r.inputs["name"] for r in rendered.by_type("docker:index/remoteImage:RemoteImage")}
    assert engine in {images.get(urn) for urn in found["ams-local-s3"].dependencies}
    migration = next(j for j in dev.of_kind("Job") if j["metadata"]["labels"]["app.kubernetes.io/component"] == "migration")
    assert found["ams-local-migrate"].inputs["command"] == migration["spec"]["template"]["spec"]["containers"][0]["command"]


def test_the_init_sql_file_of_the_settings_is_mounted():
    found = local_render({"ams:data.postgres.initSqlFile": "tests/data/init.sql"}).by_type("docker:index/container:Container")
    postgres = next(r for r in found if r.inputs["name"] == "ams-local-postgres")
    assert {
        "hostPath": str(PROJECT_DIR / "tests/data/init.sql"),
        "containerPath": "/docker-entrypoint-initdb.d/init.sql",
        "readOnly": True,
    } in postgres.inputs["volumes"]


def test_checkouts_beside_the_project_are_built_and_mounted(tmp_path):
    (tmp_path / "package.json").write_text("{}")
    render = local_render({"ams:local.sources": {"backend": str(tmp_path), "frontend": ""}})
    assert [r.inputs["build"]["context"] for r in render.by_type("docker:index/image:Image")] == [str(tmp_path)]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"ams:ingress.host": "ams.local"},
            "ams:ingress.host: a local stack runs on Docker and does not read it (docs/local-development.md lists what it "
            "reads): remove it",
        ),
        ({"ams:data.postgres.instances": 3}, "ams:data.postgres.instances: a local stack runs on Docker"),
        ({"ams:monitoring.enabled": True}, "ams:monitoring.enabled: a local stack runs on Docker"),
        ({"ams:local.ports.redis": 5432}, "ams:local.ports.redis: must differ from postgres (5432)"),
        ({"ams:local.ports.prxy": 8081}, "ams:local.ports.prxy: unknown key (known keys: objectStorage, postgres, proxy, redis)"),
        ({"ams:local.images.postgres": "postgres:latest"}, "ams:local.images.postgres: must not use the 'latest' tag"),
        ({"ams:local.ports.proxy": 0}, "ams:local.ports.proxy: must be >= 1, got 0"),
    ],
)
def test_what_a_local_stack_cannot_set_is_refused_with_its_key(overrides, expected):
    found = problems("local", overrides)
    assert any(problem.startswith(expected) for problem in found), found


def test_every_problem_is_listed_at_once():
    found = problems("local", {"ams:ingress.host": "x", "ams:network.nodeCidrs": ["10.0.0.0/8"], "ams:local.ports.redis": 5432})
    assert [p.split(":")[1] for p in found] == ["ingress.host", "local.ports.redis", "network.nodeCidrs"]


def test_what_a_local_stack_reads_of_the_shared_settings_is_accepted():
    render = local_render(
        {
            "ams:delivery": stack_config("dev")["ams:delivery"],
            "ams:app.api.port": 4100,
            "ams:app.worker.command": ["node", "dist/worker.js", "--all"],
            "ams:data.redis.image": "redis:8.10.1-alpine3.23",
            "ams:data.objectStorage.appBucket": "my-assets",
        }
    )
    proxy = next(r for r in render.by_type("docker:index/container:Container") if r.inputs["name"] == "ams-local-proxy")
    assert "set $api http://api:4100;" in proxy.inputs["uploads"][0]["content"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_cluster_stack_refuses_the_local_section(stack):
    assert problems(stack, {"ams:local.ports.proxy": 8088}) == [
        "ams:local: only a local stack reads it (ams:environment: local); see docs/day-2.md: Day 2, ams:local"
    ]


def test_the_docs_reset_a_store_by_a_urn_the_stack_has(rendered):
    """The mock engine nests top-level URNs under the stack's own type; the real engine does not."""
    text = (PROJECT_DIR / "docs" / "local-development.md").read_text()
    urns = re.findall(r"--target '(urn:pulumi:local::[^']+)'", text)
    registered = {r.urn.replace("pulumi:pulumi:Stack$", "") for r in rendered.resources}
    assert urns and set(urns) <= registered, urns


def test_the_render_command_prints_the_docker_plan_without_writing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "--stack", "local"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Wrote" not in result.stdout
    plan = result.stdout[result.stdout.index("Containers, in start order") :]
    order = [line.split()[0] for line in plan.splitlines() if line.startswith("  ams-local-")]
    assert order.index("ams-local-postgres") < order.index("ams-local-migrate") < order.index("ams-local-api")
    assert order.index("ams-local-api") < order.index("ams-local-proxy")
    assert "ports: 127.0.0.1:8080->8080" in plan and "ams-local-postgres-data:/var/lib/postgresql/data" in plan
    assert "Volumes: ams-local-object-storage-data, ams-local-postgres-data, ams-local-redis-data" in plan
    assert "Footprint" not in result.stdout


# --- the proxy, run by a real nginx --------------------------------------------------------------


class _Backend(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        headers = {name: self.headers[name] for name in ("Host", "Upgrade", "Connection", "X-Forwarded-Proto")}
        body = json.dumps({"server": self.server.label, "path": self.path, **headers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output quiet
        pass


def _serve(label: str) -> http.server.HTTPServer:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Backend)
    server.label = label
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _proxy_conf(api_port: int, web_port: int, listen: int) -> str:
    """The proxy's config as the LocalStack uploads it, with Docker's DNS names pointed at this machine's servers."""
    conf = local._data_file(
        "proxy.conf", LISTEN_PORT=str(listen), BODY_SIZE="50m", API_PORT=str(api_port), WEB_PORT=str(web_port)
    )
    conf = conf.replace("resolver 127.0.0.11 valid=10s ipv6=off;", "")
    return conf.replace("http://api:", "http://127.0.0.1:").replace("http://web:", "http://127.0.0.1:")


def _nginx_conf(tmp_path: Path, server_conf: str) -> Path:
    (tmp_path / "conf.d").mkdir(exist_ok=True)
    (tmp_path / "conf.d" / "default.conf").write_text(server_conf)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        # Every path nginx writes, in the test's directory: the CI runner's user cannot write Debian's /var/lib/nginx.
        "http {\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {tmp_path}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {tmp_path}/conf.d/default.conf;\n}}\n"
    )
    return main


def test_the_proxy_config_as_uploaded_is_valid_nginx(tmp_path):
    nginx = tool("nginx", Path("/usr/sbin/nginx"))
    conf = local._data_file("proxy.conf", LISTEN_PORT="8080", BODY_SIZE="50m", API_PORT="4000", WEB_PORT="3000")
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(_nginx_conf(tmp_path, conf))], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_proxy_routes_like_the_clusters_ingress(tmp_path):
    """Each path of the dev render's HTTPRoute is a Gateway API `PathPrefix` (as an Ingress `Prefix`): it matches the
    path and what lies below it at a `/` boundary, never a longer name. The local proxy must send the same requests to
    the same backends, unchanged."""
    nginx = tool("nginx", Path("/usr/sbin/nginx"))
    route = render_stack("dev").get("HTTPRoute", "ams")
    matches = [(rule["matches"][0]["path"], rule["backendRefs"][0]["name"]) for rule in route["spec"]["rules"]]
    routes = {path["value"]: (path["type"], backend) for path, backend in matches}
    assert {path: kind for path, (kind, _) in routes.items()} == {"/api": "PathPrefix", "/": "PathPrefix"}
    api, web, listen = _serve("api"), _serve("web"), _free_port()
    config = _nginx_conf(tmp_path, _proxy_conf(api.server_address[1], web.server_address[1], listen))
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(config), "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.1)
        expected = {
            "/api": "api",
            "/api/": "api",
            "/api/health/ready?x=1": "api",
            "/apis": "web",
            "/": "web",
            "/assets/a.js": "web",
        }
        for path, server in expected.items():
            with urllib.request.urlopen(f"http://127.0.0.1:{listen}{path}", timeout=5) as response:
                answer = json.loads(response.read())
            assert (answer["server"], answer["path"]) == (server, path), path
            assert (answer["Host"], answer["X-Forwarded-Proto"]) == (f"127.0.0.1:{listen}", "http")
            ingress_backend = routes["/api" if path == "/api" or path.startswith("/api/") else "/"][1]
            assert server in ingress_backend.split("-"), (path, ingress_backend)
        # The Vite dev server's hot reload: a WebSocket upgrade passes through to the web.
        upgrade = urllib.request.Request(f"http://127.0.0.1:{listen}/", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
        with urllib.request.urlopen(upgrade, timeout=5) as response:
            answer = json.loads(response.read())
        assert (answer["server"], answer["Upgrade"], answer["Connection"]) == ("web", "websocket", "upgrade")
    finally:
        process.terminate()
        process.wait(timeout=10)
        api.shutdown()
        web.shutdown()
