"""The stand-in images of the end-to-end workflow (docker/standin, docs/e2e.md): Dockerfiles held to the project's rules,
and a server that answers every path the program's probes, PodMonitors and edge use, read from the e2e render.

The server is run here with node when node is installed, laid out as the Dockerfiles lay it out and started with
the commands the render gives each container (the Dockerfile's CMD where the render gives none).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, render_stack, tool
from tests.test_dockerfiles import dockerfile_instructions

STANDIN = PROJECT_DIR / "docker" / "standin"
DOCKERFILES = {"api": STANDIN / "api" / "Dockerfile", "web": STANDIN / "web" / "Dockerfile"}
DEPLOYMENTS = {"ams-api": "api", "ams-worker": "api", "ams-web": "web"}  # which stand-in each Deployment runs
STACK = "e2e"


def arguments(path: Path, keyword: str) -> list[str]:
    return [args for key, args in dockerfile_instructions(path) if key == keyword]


def containers(deployment: str) -> dict[str, dict]:
    spec = render_stack(STACK).get("Deployment", deployment)["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec["containers"]}


def standin_container(deployment: str) -> dict:
    (container,) = [c for c in containers(deployment).values() if "ams-standin" in c["image"]]
    return container


# --- the Dockerfiles -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_is_clean(name):
    hadolint = tool("hadolint", PROJECT_DIR / ".venv/bin/hadolint")
    command = [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILES[name])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_base_image_is_pinned_and_recorded_in_pins(name):
    (image,) = [args.split()[0] for args in arguments(DOCKERFILES[name], "FROM")]
    tag = image.rpartition(":")[2]
    assert ":" in image and tag != "latest" and re.search(r"\d", tag), image
    assert f"`{image}`" in (PROJECT_DIR / "PINS.md").read_text()


@pytest.mark.parametrize("name", DOCKERFILES)
def test_it_runs_as_a_high_numeric_uid_and_exposes_the_port_the_render_gives(name):
    uid = arguments(DOCKERFILES[name], "USER")[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000
    deployment = {"api": "ams-api", "web": "ams-web"}[name]
    ports = [str(p["containerPort"]) for p in standin_container(deployment)["ports"]]
    assert arguments(DOCKERFILES[name], "EXPOSE") == ports


def test_each_stack_image_is_a_stand_in_the_images_script_builds():
    images = render_stack(STACK).outputs["images"]
    script = (PROJECT_DIR / "scripts" / "e2e" / "images.sh").read_text()
    assert 'docker build --file "docker/standin/$name/Dockerfile" --tag "$standin" docker/standin' in script
    for name in DOCKERFILES:
        assert images[name].startswith("localhost:5001/ams-standin-"), "the registry scripts/e2e/cluster.sh runs"
        assert re.search(r"REGISTRY_PORT=5001\b", (PROJECT_DIR / "scripts" / "e2e" / "cluster.sh").read_text())


# --- the paths the program uses ---------------------------------------------------------------------------------------


def port_number(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def expected_paths() -> dict[str, set[tuple[int, str]]]:
    """(port, path) each Deployment's stand-in must answer: its probes, its PodMonitor's endpoints (or, for the web,
    the stub_status the metrics sidecar scrapes), and through the edge the api's /api/health (deploy.yml's smoke path)."""
    rendered = render_stack(STACK)
    wanted: dict[str, set[tuple[int, str]]] = {name: set() for name in DEPLOYMENTS}
    for deployment in DEPLOYMENTS:
        container = standin_container(deployment)
        for probe in ("livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            wanted[deployment].add((port_number(container, get["port"]), get["path"]))
        monitor = rendered.get("PodMonitor", deployment)
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            owner = next(c for c in containers(deployment).values() if any(p["name"] == endpoint["port"] for p in c["ports"]))
            if owner is container:
                wanted[deployment].add((port_number(container, endpoint["port"]), endpoint["path"]))
            else:  # the nginx-prometheus-exporter sidecar reads the web's stub_status
                scrape = next(a for a in owner["command"] if a.startswith("--nginx.scrape-uri="))
                address = re.fullmatch(r"--nginx.scrape-uri=http://127\.0\.0\.1:(\d+)(/\S*)", scrape)
                wanted[deployment].add((int(address.group(1)), address.group(2)))
    api_port = port_number(standin_container("ams-api"), "http")
    wanted["ams-api"].add((api_port, "/api/health"))
    route = rendered.get("HTTPRoute", "ams")
    prefixes = {rule["matches"][0]["path"]["value"] for rule in route["spec"]["rules"]}
    assert {"/api", "/"} <= prefixes, "the edge sends /api to the api and the rest to the web"
    wanted["ams-web"].add((port_number(standin_container("ams-web"), "http"), "/"))
    return wanted


def test_the_standin_lists_every_path_the_program_uses():
    """The routes table of standin.js, read as text (this holds without node)."""
    source = (STANDIN / "standin.js").read_text()
    table = re.search(r"const ROUTES = \{(.*?)\};", source, flags=re.S).group(1)
    routes = {role: set(re.findall(r'"([^"]+)"', paths)) for role, paths in re.findall(r"(\w+): \[([^\]]*)\]", table)}
    roles = {"ams-api": "api", "ams-worker": "worker", "ams-web": "web"}
    for deployment, wanted in expected_paths().items():
        for _port, path in wanted:
            if path != "/stub_status":
                assert path in routes[roles[deployment]], f"{deployment}: {path}"


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    """The files the Dockerfiles copy, where they copy them (WORKDIR /app)."""
    root = tmp_path_factory.mktemp("standin") / "app"
    for dockerfile in DOCKERFILES.values():
        for args in arguments(dockerfile, "COPY"):
            *sources, target = [a for a in args.split() if not a.startswith("--")]
            for source in sources:
                destination = root / target if not target.endswith("/") and target != "./" else root / target / source
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(STANDIN / source, destination)
                destination.chmod(0o755)
    return root


def dockerfile_env(path: Path) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(arguments(path, "ENV"))))


def private_network() -> list[str]:
    """`unshare -rn`, where this machine allows a network namespace of our own (root, or unprivileged user namespaces)."""
    command = ["unshare", "-rn", "true"]
    if shutil.which("unshare") and subprocess.run(command, capture_output=True, check=False).returncode == 0:
        return ["unshare", "-rn"]
    return []


def probe(root: Path, command: list[str], env: dict, paths: list[tuple[int, str]]) -> dict[str, int]:
    """The HTTP status of each path, from the stand-in started with `command` (tests/standin_probe.py)."""
    request = json.dumps({"root": str(root), "command": command, "env": env, "paths": paths})
    probe_command = [*private_network(), sys.executable, "-m", "tests.standin_probe", request]
    result = subprocess.run(probe_command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed here: the routes table is still read as text above")
    return found


def test_the_standins_answer_every_path_with_the_programs_commands(image_root):
    """Each Deployment's stand-in started as the render starts it (its command, or the image's CMD), and asked for
    every path the program uses; a path it does not know answers 404, so a missing route fails here."""
    node()
    for deployment, wanted in expected_paths().items():
        image = DEPLOYMENTS[deployment]
        container = standin_container(deployment)
        command = container.get("command") or json.loads(arguments(DOCKERFILES[image], "CMD")[-1])
        env = dockerfile_env(DOCKERFILES[image]) | {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        unknown = (min(port for port, _ in wanted), "/no-such-path")
        answers = probe(image_root, command, env, [*sorted(wanted), unknown])
        assert answers.pop(f"{unknown[0]} {unknown[1]}") == 404, f"{deployment}: an unknown path must not answer 200"
        assert answers == dict.fromkeys(answers, 200), f"{deployment}: {answers}"
        assert len(answers) == len(wanted)


def test_the_migration_fails_when_the_database_refuses(image_root):
    """`npx prisma migrate deploy` in the api stand-in logs in with DATABASE_URL and exits 1 when it cannot, so the
    Job completes only when the app's credentials work (a real login: scripts/e2e/checks.sh, on the cluster)."""
    node()
    (job,) = [
        j for j in render_stack(STACK).of_kind("Job") if j["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
    ]
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    env = dockerfile_env(DOCKERFILES["api"]) | {"NPM_CONFIG_CACHE": str(image_root.parent / "npm")}
    env["DATABASE_URL"] = "postgresql://ams:wrong@127.0.0.1:1/ams"
    result = subprocess.run(
        command, cwd=image_root, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"role":"migrate","status":"failed"' in result.stdout


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server here (Debian's postgresql package): the login is then only run on the cluster")
    return found[-1].parent


@pytest.fixture
def postgres() -> str:
    """A throwaway PostgreSQL on 127.0.0.1 that takes `ams` with SCRAM-SHA-256 (what PostgreSQL stores by default,
    and what PgBouncer asks for when the stored secret is SCRAM) and `legacy` with MD5; its port as a string."""
    binaries = postgres_bin()
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []  # PostgreSQL refuses to run as root
    # Not under pytest's tmp_path: its parent is private to root, and the server runs as nobody.
    tmp_path = Path(tempfile.mkdtemp(prefix="ams-e2e-pg-"))
    data, password_file = tmp_path / "data", tmp_path / "password"
    password_file.write_text("admin\n")
    tmp_path.chmod(0o777)
    password_file.chmod(0o644)
    initdb = [*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256"]
    subprocess.run([*initdb, f"--pwfile={password_file}"], check=True, capture_output=True)
    with (data / "pg_hba.conf").open("w") as hba:
        hba.write("host all legacy 127.0.0.1/32 md5\nhost all all 127.0.0.1/32 scram-sha-256\n")
    port = str(25432 + os.getpid() % 1000)
    options = f"-p {port} -k {tmp_path} -c listen_addresses=127.0.0.1"
    pg_ctl = [*as_user, str(binaries / "pg_ctl"), "-D", str(data)]
    subprocess.run([*pg_ctl, "-o", options, "-l", str(tmp_path / "log"), "-w", "start"], check=True, capture_output=True)
    try:
        psql = [str(binaries / "psql"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-q", "-c"]
        env = {**os.environ, "PGPASSWORD": "admin"}
        for sql in (
            "CREATE USER ams PASSWORD 's3cr%t:@'",
            "CREATE DATABASE ams OWNER ams",
            "SET password_encryption = 'md5'; CREATE USER legacy PASSWORD 'old'",
        ):
            subprocess.run([*psql, sql], check=True, capture_output=True, env=env)
        yield port
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_standin_logs_in_as_the_app_does(image_root, postgres):
    """`db-check` (and the migration's login) against a real PostgreSQL: SCRAM-SHA-256 and MD5, a percent-encoded
    password, and the `?pgbouncer=true` the api's DATABASE_URL carries; a wrong password exits 1."""
    node()
    urls = {
        f"postgresql://ams:s3cr%25t%3A%40@127.0.0.1:{postgres}/ams?pgbouncer=true": 0,
        f"postgresql://legacy:old@127.0.0.1:{postgres}/ams": 0,
        f"postgresql://ams:wrong@127.0.0.1:{postgres}/ams": 1,
    }
    for url, expected in urls.items():
        command = json.loads(arguments(DOCKERFILES["api"], "CMD")[-1]) + ["db-check"]
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": url}
        result = subprocess.run(command, cwd=image_root, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == expected, (url, result.stdout + result.stderr)
