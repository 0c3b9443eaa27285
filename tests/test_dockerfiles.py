"""The api and web Dockerfiles and the web nginx.conf: hadolint-clean, pinned, non-root, right ports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, tool

DOCKER_DIR = PROJECT_DIR / "docker"
DOCKERFILES = {"api": DOCKER_DIR / "api/Dockerfile", "web": DOCKER_DIR / "web/Dockerfile"}
PORTS = {"api": "4000", "web": "8080"}


def instructions(name: str) -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILES[name])


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, with comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            pairs.append((keyword.upper(), arguments.strip()))
    return pairs


def final_stage(name: str) -> list[tuple[str, str]]:
    pairs = instructions(name)
    last_from = max(i for i, (keyword, _) in enumerate(pairs) if keyword == "FROM")
    return pairs[last_from:]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_is_clean(name):
    hadolint = tool("hadolint", PROJECT_DIR / ".venv/bin/hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILES[name])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_base_image_is_pinned_to_a_version(name):
    images = [arguments.split()[0] for keyword, arguments in instructions(name) if keyword == "FROM"]
    assert len(images) == 3, "a build stage, the local stack's development stage and a runtime stage"
    for image in images:
        tag = image.rpartition(":")[2] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{image} is not pinned to a version"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_final_stage_runs_as_a_high_numeric_uid(name):
    users = [arguments for keyword, arguments in final_stage(name) if keyword == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, f"USER {users[-1]}"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_final_stage_exposes_the_container_port(name):
    exposed = [arguments.split() for keyword, arguments in final_stage(name) if keyword == "EXPOSE"]
    assert exposed == [[PORTS[name]]]


def test_api_runtime_installs_without_dev_dependencies():
    runs = [arguments for keyword, arguments in final_stage("api") if keyword == "RUN"]
    installs = [run for run in runs if "npm ci" in run or "npm install" in run]
    assert installs and all("--omit=dev" in run for run in installs)


def test_web_nginx_conf_serves_the_spa_and_health_on_8080():
    conf = (DOCKER_DIR / "web/nginx.conf").read_text()
    assert re.search(r"^\s*listen\s+8080\s*;", conf, re.MULTILINE)
    assert re.search(r"location\s*=\s*/healthz\s*\{[^}]*return\s+200", conf)
    assert re.search(r"try_files\s+\$uri\s+\$uri/\s+/index\.html\s*;", conf)
    assert re.search(r"^\s*server_tokens\s+off\s*;", conf, re.MULTILINE)
    assert "COPY docker/web/nginx.conf /etc/nginx/conf.d/default.conf" in DOCKERFILES["web"].read_text()


def stage(name: str, stage_name: str) -> list[tuple[str, str]]:
    pairs = instructions(name)
    starts = [i for i, (keyword, arguments) in enumerate(pairs) if keyword == "FROM"]
    start = next(i for i in starts if pairs[i][1].lower().endswith(f" as {stage_name}"))
    end = next((i for i in starts if i > start), len(pairs))
    return pairs[start:end]


@pytest.mark.parametrize(("name", "port", "command"), [("api", "4000", "start:dev"), ("web", "3000", '"dev"')])
def test_the_development_stage_is_what_the_local_stack_runs(name, port, command):
    """components/local builds `--target development` and routes to this port; a plain `docker build` must still give
    the release image, so the development stage is never the last one."""
    from components.local import stack

    development = stage(name, "development")
    assert stack.DOCKERFILES[name] == DOCKERFILES[name]
    assert [arguments for keyword, arguments in development if keyword == "EXPOSE"] == [port]
    users = [arguments for keyword, arguments in development if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert command in next(arguments for keyword, arguments in development if keyword == "CMD")
    assert "development" not in final_stage(name)[0][1]
    # The source is mounted: copying it would give every edit a new image ID, and the local stack new containers.
    copied = [arguments.split()[-2] for keyword, arguments in development if keyword == "COPY"]
    assert copied and set(copied) <= {"package*.json", "prisma"}, copied
    if name == "web":
        assert int(port) == stack.WEB_PORTS["development"]
