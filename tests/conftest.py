"""Shared fixtures: every real stack rendered once per session through the offline runner."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tools import helm, runner
from tools import render as render_cli

# Prod runs by the digests of a record (components/platform/digests.py); the committed one holds none yet (nothing
# can be resolved here), so the tests render prod with invented ones, plainly marked as such. Set in the environment,
# so that the commands tests run in subprocesses read it too.
TEST_DIGESTS = Path(__file__).parent / "data" / "image-digests.test.yaml"
os.environ["AMS_IMAGE_DIGESTS"] = str(TEST_DIGESTS)

STACKS = ("dev", "staging", "prod")  # on Kubernetes
# every committed Pulumi.<stack>.yaml: `local` runs on Docker (components/local), `drill` is the weekly restore drill's
# throwaway stack (.github/workflows/restore-drill.yml), `e2e` a throwaway kind cluster's (.github/workflows/e2e.yml;
# its whole-stack checks: tests/test_e2e.py)
STACK_FILES = ("local", *STACKS, "drill", "e2e")
PROJECT_DIR = runner.PROJECT_DIR


def stack_config(stack: str) -> dict:
    return runner.read_stack_file(PROJECT_DIR / f"Pulumi.{stack}.yaml")


def with_overrides(config: dict, overrides: dict) -> dict:
    """A deep copy of a stack config with dotted key paths set (`ams:app.api.minReplicas`); None deletes."""
    result = copy.deepcopy(config)
    for path, value in overrides.items():
        top, _, rest = path.partition(".")
        if not rest:
            if value is None:
                result.pop(top, None)
            else:
                result[top] = value
            continue
        node = result.setdefault(top, {})
        keys = rest.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return result


_RENDERS: dict = {}


def render_stack(stack: str) -> runner.Render:
    if stack not in _RENDERS:
        _RENDERS[stack] = runner.run(stack, stack_config(stack))
    return _RENDERS[stack]


@pytest.fixture(params=STACKS)
def stack(request) -> str:
    return request.param


@pytest.fixture
def rendered(stack) -> runner.Render:
    return render_stack(stack)


# Ingress mode, for a cluster that already runs an NGINX-family controller (every stack defaults to gateway mode).
INGRESS_MODE = {"ams:ingress.mode": "ingress", "ams:ingress.className": "nginx", "ams:ingress.installController": False}

# Renders the validators check besides the three stacks as they are: the other modes and strategies.
VARIANTS = {
    "prod-ingress": ("prod", INGRESS_MODE),
    "prod-blue-green": (
        "prod",
        {
            # Test data: the nodes' subnet as a first deploy records it, so that node scraping is checked somewhere.
            "ams:network.nodeCidrs": ["10.0.1.0/24"],
            "ams:delivery.strategy": "blueGreen",
            "ams:delivery.colors": {
                "blue": {"api": "ghcr.io/suresoft/ams-api:1.0.0", "web": "ghcr.io/suresoft/ams-web:1.0.0"},
                "green": {"api": "ghcr.io/suresoft/ams-api:1.1.0", "web": "ghcr.io/suresoft/ams-web:1.1.0"},
            },
        },
    ),
    "prod-external-secrets": (
        "prod",
        {
            "ams:secrets.mode": "externalSecrets",
            "ams:secrets.installOperator": True,
            "ams:secrets.vault": {"server": "https://vault.suresoft.com", "path": "secret", "role": "ams"},
        },
    ),
    "staging-canary": (
        "staging",
        {
            "ams:delivery.strategy": "canary",
            "ams:delivery.canary": {"api": "ghcr.io/suresoft/ams-api:1.1.0", "web": "ghcr.io/suresoft/ams-web:1.1.0"},
        },
    ),
}
RENDERS = (*STACKS, *VARIANTS)


@pytest.fixture(scope="session")
def render_dirs(tmp_path_factory) -> dict[str, Path]:
    """Each real stack, and each variant, written to disk by the same code as `python -m tools.render`."""
    base = tmp_path_factory.mktemp("render")
    dirs = {}
    for name in STACKS:
        render_cli.write(render_stack(name), base / name)
        dirs[name] = base / name
    for name, (stack, overrides) in VARIANTS.items():
        render_cli.write(runner.run(stack, with_overrides(stack_config(stack), overrides)), base / name)
        dirs[name] = base / name
    start_checkov(tmp_path_factory, dirs)
    return dirs


CHECKOV = PROJECT_DIR / ".venv-checkov/bin/checkov"


def start_checkov(tmp_path_factory, dirs: dict[str, Path]) -> None:
    """Start one checkov run over every render, in the background, for all pytest workers (the first to get here
    starts it; tests/test_validators.py reads its report): the workers go on with other tests meanwhile instead of
    one running checkov and the other waiting for it. Its inputs are copies in the workers' shared directory, named
    after the render, so the report's paths mean the same to every worker."""
    if not CHECKOV.exists():
        return  # tests/test_validators.py says it is missing (and fails in CI)
    with one_worker_at_a_time(tmp_path_factory, "checkov") as shared:
        work = shared / "checkov"
        if work.exists():
            return
        work.mkdir()
        files = []
        for name, directory in dirs.items():
            copy_ = work / f"{name}.yaml"
            shutil.copyfile(directory / "manifests.yaml", copy_)
            files.append(str(copy_))
        command = [str(CHECKOV), "--framework", "kubernetes", "--skip-download", "-o", "json", "-f", *files]
        env = {"PATH": "/usr/bin:/bin", "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
        # The report appears whole or not at all: written aside, then renamed by the same shell, whatever checkov's
        # exit status (1 when a check fails, which the tests then report).
        script = '"$0" "$@" > report.partial 2> checkov.log; mv report.partial report.json'
        _BACKGROUND.append(subprocess.Popen(["sh", "-c", script, *command], cwd=work, env=env))


_BACKGROUND: list = []  # the background runs this worker started, waited for at the end of its session


def finish_checkov(work: Path, timeout: float = 600) -> Path:
    """The checkov report once the background run is done (whichever worker started it)."""
    report = work / "report.json"
    deadline = time.monotonic() + timeout
    while not report.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"checkov did not finish within {timeout} s (see {work / 'checkov.log'})")
        time.sleep(0.2)
    return report


def pytest_sessionfinish(session):
    for process in _BACKGROUND:
        process.wait()


def session_directory(tmp_path_factory) -> Path:
    """A directory of this test session that every pytest-xdist worker shares: the parent of the workers' own
    temporary directories under xdist; without it, the session's own (its parent holds earlier sessions too)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return tmp_path_factory.getbasetemp().parent
    return tmp_path_factory.getbasetemp()


@contextmanager
def one_worker_at_a_time(tmp_path_factory, name: str) -> Iterator[Path]:
    """Hold a lock shared by every pytest-xdist worker of this run (their base temporary directories share a parent);
    yields that shared directory. Without xdist, the lock is uncontended."""
    shared = session_directory(tmp_path_factory)
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield shared


def tool(name: str, *candidates: Path) -> str:
    """Find an external validator. In CI (CI=true) a missing tool fails the test instead of skipping it."""
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; .ci/run installs it")
    pytest.skip(f"{name} is not installed here (scripts/test.sh or .ci/run installs it)")


# --- the Helm releases, rendered with a real helm (tools/helm.py) ---------------------------------------


def _missing(reason: str):
    if os.environ.get("CI") or os.environ.get("AMS_REQUIRE_CONFORMANCE_DATA"):
        pytest.fail(f"{reason}; .ci/run needs it")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def helm_bin() -> str:
    found = helm.find_helm()
    if found is None:
        _missing("helm is not installed here (scripts/setup.sh installs it in .tools/helm)")
    return found


@pytest.fixture(scope="session")
def charts() -> Path:
    path = helm.charts_dir()
    if not (path / "sources.json").is_file():
        _missing(f"vendored charts not found at {path} (set AMS_CONFORMANCE_CHARTS)")
    return path


@pytest.fixture(scope="session")
def records(render_dirs) -> dict[str, list[dict]]:
    """Each render's resources.json, as `python -m tools.render` writes it."""
    return {name: json.loads((render_dirs[name] / "resources.json").read_text()) for name in RENDERS}


ChartRender = list[dict] | helm.HelmError  # what `helm template` made of a release, or why it could not


@pytest.fixture(scope="session")
def chart_objects(records, helm_bin, charts, tmp_path_factory) -> dict[str, list[tuple[helm.Release, ChartRender]]]:
    """Per render, each release with what `helm template` made of it (or the error); all renders in one parallel batch.
    One worker at a time: the first renders (tools/helm.py keeps each render on disk), the others read those."""
    wanted = {name: [(release, helm.api_versions(recs)) for release in helm.releases(recs)] for name, recs in records.items()}
    with one_worker_at_a_time(tmp_path_factory, "helm"):
        done = helm.render_all([pair for pairs in wanted.values() for pair in pairs], helm=helm_bin, charts=charts)
    return {name: [(release, done[(release, tuple(sorted(apis)))]) for release, apis in pairs] for name, pairs in wanted.items()}
