"""Shared fixtures: every real stack rendered once per session through the offline runner."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
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
STACK_FILES = ("local", *STACKS)  # every committed Pulumi.<stack>.yaml: `local` runs on Docker (components/local)
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
    return dirs


@contextmanager
def one_worker_at_a_time(tmp_path_factory, name: str) -> Iterator[Path]:
    """Hold a lock shared by every pytest-xdist worker of this run (their base temporary directories share a parent);
    yields that shared directory. Without xdist, the lock is uncontended."""
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield shared


def once_for_all_workers(tmp_path_factory, name: str, compute: Callable[[], object]) -> object:
    """What `compute()` returns (JSON), computed by the first worker that asks and read from disk by the others."""
    with one_worker_at_a_time(tmp_path_factory, name) as shared:
        result_file = shared / f"{name}.json"
        if result_file.is_file():
            return json.loads(result_file.read_text())
        result = compute()
        result_file.write_text(json.dumps(result))
        return result


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
